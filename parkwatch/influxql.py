"""Read side of InfluxDB: InfluxQL over ``/query``.

InfluxQL is the one query language InfluxDB 1.x, 2.x (v1 compatibility API)
and 3.x all answer, so the API, the dashboards and the tests use it alone.
"""

from __future__ import annotations

from typing import Any

import httpx

from parkwatch.settings import Settings

__all__ = ["InfluxQLError", "influxql", "ensure_database", "scalar"]


class InfluxQLError(RuntimeError):
    """InfluxDB answered a query with an error."""


def influxql(settings: Settings, query: str, *, method: str = "GET") -> list[dict[str, Any]]:
    """Run one InfluxQL statement; returns its series (``name``, ``columns``, ``values``, ``tags``)."""
    params = {"q": query, "db": settings.influx_db, "epoch": "ms"}
    headers = {"Authorization": f"Token {settings.influx_token}"} if settings.influx_token else {}
    resp = httpx.request(
        method, f"{settings.influx_url}/query", params=params, headers=headers, timeout=30.0
    )
    resp.raise_for_status()
    result = resp.json()["results"][0]
    if "error" in result:
        raise InfluxQLError(f"{result['error']} (query: {query})")
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def ensure_database(settings: Settings) -> None:
    """Create the configured database if missing (idempotent in InfluxDB 1.x)."""
    influxql(settings, f'CREATE DATABASE "{settings.influx_db}"', method="POST")


def scalar(settings: Settings, query: str) -> float:
    """The first value of the first row, or 0 when the query matches nothing."""
    series = influxql(settings, query)
    if not series or not series[0]["values"]:
        return 0.0
    value = series[0]["values"][0][1]
    return float(value) if value is not None else 0.0
