"""A point's history read through the registry and its cache, against the real InfluxDB: the
buckets equal one InfluxQL query of the whole range, live readings show at once, late ones
in settled buckets once the cache time has passed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from cloud_api.registry import Classification, Registry
from parkwatch.influxql import ensure_database, influxql
from parkwatch.settings import Settings

pytestmark = pytest.mark.anyio

S = 1000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _write(settings: Settings, key: tuple[str, str, str, str], readings: dict[int, float]) -> None:
    site, gateway, device, point = key
    lines = "\n".join(
        f'reading,site={site},gateway={gateway},device={device},point={point} value={v},quality="good" {t}'
        for t, v in readings.items()
    )
    params = {"db": settings.influx_db, "precision": "ms"}
    httpx.post(f"{settings.influx_url}/write", params=params, content=lines, timeout=10).raise_for_status()


def _direct(
    settings: Settings, key: tuple[str, str, str, str], lo: int, hi: int, interval: int
) -> list[tuple]:
    site, gateway, device, point = key
    series = influxql(
        settings,
        'SELECT MEAN("value"), MIN("value"), MAX("value"), COUNT("value") FROM "reading" '
        f"WHERE site = '{site}' AND gateway = '{gateway}' AND device = '{device}' AND point = '{point}' "
        f"AND time >= {lo}ms AND time < {hi}ms GROUP BY time({interval}ms) fill(none)",
    )
    return [(int(t), m, lo_, hi_, int(n)) for s in series for t, m, lo_, hi_, n in s.get("values", [])]


async def test_history_equals_one_query_of_whole_buckets_and_late_readings_show(stack: Settings) -> None:
    ensure_database(stack)
    key = ("hist", "hist-gw", f"dev-{time.time_ns() % 10**9}", "ch4")
    now = time.time_ns() // 1_000_000
    start = now - 3600 * S
    _write(stack, key, {start + t * S: float((t * 7) % 50) for t in range(3600)})
    registry = Registry(stack, Path("/nonexistent"), Classification(), history_cache_s=1.0)
    await registry.start()
    try:
        for offset in (0, 3 * S, 7 * S + 1):  # screens, each with its own now
            interval, rows = await registry.history(key, start + offset, now + offset)
            first, end = (start + offset) // interval * interval, -(-(now + offset) // interval) * interval
            assert interval == 10 * S and rows == _direct(stack, key, first, end, interval)
            assert rows[0][0] <= start + offset < rows[0][0] + interval

        _write(stack, key, {now - 2 * S: 1000.0})  # live: in the tail, shown once its 2 s pass
        await asyncio.sleep(2.1)
        interval, rows = await registry.history(key, start, now)
        assert max(r[3] for r in rows) == 1000.0

        _write(stack, key, {start + 5 * S: -1000.0})  # late: a settled bucket
        interval, rows = await registry.history(key, start, now)
        assert min(r[2] for r in rows) > -1000.0  # the kept bucket, up to the cache time
        await asyncio.sleep(1.1)
        interval, rows = await registry.history(key, start, now)
        assert min(r[2] for r in rows) == -1000.0
        assert rows == _direct(
            stack, key, start // interval * interval, -(-now // interval) * interval, interval
        )
    finally:
        await registry.aclose()
