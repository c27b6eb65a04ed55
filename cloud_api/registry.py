"""The registry of sites, gateways, devices and points, their classification and their data.

What exists comes from two places: the gateway configs in
``PARKWATCH_API_FIRMWARE_CONFIGS/gateways/*.yaml`` (with their profiles: unit,
description) and the series gateways have actually reported to InfluxDB
(``reading`` measurement), so a point missing from the configs still shows.

Data is read with InfluxQL: the newest row of every series for latest values,
and ``GROUP BY time(...)`` for history, with the interval chosen so a range
gives at most :data:`MAX_HISTORY_POINTS` buckets. The registry keeps one
HTTP client for the blocking reads (``points``, ``latest``; called from the
thread pool) and one asynchronous client for :meth:`Registry.history`, which
the busiest endpoint awaits on the event loop. Building an ``httpx`` client
costs tens of milliseconds of CPU (its TLS context), so neither is made per
query, and kept-alive connections spare InfluxDB a TCP handshake each time.

History reads go through a :class:`~cloud_api.history_cache.HistoryCache`:
buckets that can no longer change are kept for ``history_cache_s`` (60 s by
default) and the live tail for 2 s, so a wall of sparklines refreshed every
few seconds costs InfluxDB only its newest buckets. Masking and auditing stay
per request.

Classification (public / internal / sensitive) comes from a YAML file of
fnmatch rules (``cloud_api/classification.yaml``); first match wins.

    >>> c = Classification("internal", [ClassificationRule(device="flow-*", classification="sensitive")])
    >>> c.classify("north", "gw", "flow-01", "total"), c.classify("north", "gw", "gas-01", "ch4")
    ('sensitive', 'internal')
    >>> history_interval_ms(0, 3_600_000)
    10000
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cloud_api.history_cache import HistoryCache, HistoryRow, Series
from parkwatch.errors import ConfigError, ParkwatchError
from parkwatch.settings import Settings

__all__ = [
    "Level",
    "ClassificationRule",
    "Classification",
    "load_classification",
    "PointInfo",
    "Latest",
    "Registry",
    "TimeSeriesError",
    "influx_series",
    "MAX_HISTORY_POINTS",
    "HistoryRow",
    "history_interval_ms",
]

Level = Literal["public", "internal", "sensitive"]
MAX_HISTORY_POINTS: Final = 500
#: Bucket widths history may use: readable on a chart axis, ≥ 1 s (the fastest sampling).
_TIMEOUT_S: Final = 30.0
#: Points whose classification is remembered (dropped all at once beyond this, so memory is bounded).
_CLASSIFIED_MAX: Final = 100_000
_NICE_INTERVALS_MS: Final = [
    s * 1000 for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
] + [86_400_000 * d for d in (1, 2, 7, 14, 30)]


def influx_series(resp: httpx.Response, query: str) -> list[dict[str, Any]]:
    """The series of an InfluxQL answer; ``[]`` while the database does not exist yet;
    :class:`TimeSeriesError` if InfluxDB refused the statement, ``httpx.HTTPStatusError``
    for an HTTP error."""
    resp.raise_for_status()
    result = resp.json()["results"][0]
    if "error" in result:
        if "database not found" in str(result["error"]):
            return []
        raise TimeSeriesError(f"InfluxDB refused a query: {result['error']} (query: {query})")
    series: list[dict[str, Any]] = result.get("series", [])
    return series


class TimeSeriesError(ParkwatchError):
    """InfluxDB is unreachable or refused a query (503)."""


class ClassificationRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = "*"
    gateway: str = "*"
    device: str = "*"
    point: str = "*"
    classification: Level

    def matches(self, site: str, gateway: str, device: str, point: str) -> bool:
        pairs = ((self.site, site), (self.gateway, gateway), (self.device, device), (self.point, point))
        return all(fnmatch.fnmatchcase(value, pattern) for pattern, value in pairs)


class Classification(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Level = "internal"
    rules: list[ClassificationRule] = []

    def __init__(self, default: Level = "internal", rules: list[ClassificationRule] | None = None) -> None:
        super().__init__(default=default, rules=rules or [])

    def classify(self, site: str, gateway: str, device: str, point: str) -> Level:
        for rule in self.rules:
            if rule.matches(site, gateway, device, point):
                return rule.classification
        return self.default


def load_classification(path: Path) -> Classification:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Classification.model_validate(doc)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the classification: {exc.strerror or exc}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: invalid classification: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PointInfo:
    site: str
    gateway: str
    device: str
    point: str
    unit: str
    description: str
    profile: str | None
    classification: Level


@dataclass(frozen=True, slots=True)
class Latest:
    ts_ms: int
    value: float | None
    quality: str | None


def history_interval_ms(from_ms: int, to_ms: int) -> int:
    """The smallest "nice" bucket width whose whole buckets over the range are at most
    :data:`MAX_HISTORY_POINTS` (buckets are aligned to multiples of their width)."""
    for interval in _NICE_INTERVALS_MS:
        if -(-to_ms // interval) - from_ms // interval <= MAX_HISTORY_POINTS:
            return interval
    return math.ceil(max(1, to_ms - from_ms) / (MAX_HISTORY_POINTS - 1))


def _quote(value: str) -> str:
    """An InfluxQL string literal (ids are already restricted to ``[A-Za-z0-9_.-]``)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Registry:
    """Configured points (loaded at construction, no network) and InfluxDB reads.

    :meth:`points` and :meth:`latest` block (call them from a thread);
    :meth:`history` is a coroutine. The app's lifespan calls :meth:`start` on
    its event loop before serving and :meth:`aclose` after; without
    :meth:`start`, :meth:`history` still works with a client per call.
    ``history_cache_s``: how long settled history buckets are reused (0: every read queries InfluxDB).
    """

    def __init__(
        self,
        settings: Settings,
        firmware_configs: Path,
        classification: Classification,
        history_cache_s: float = 60.0,
    ) -> None:
        self.settings = settings
        self.classification = classification
        self._configured = _load_points(firmware_configs, classification)
        self._headers = {"Authorization": f"Token {settings.influx_token}"} if settings.influx_token else {}
        self._http = httpx.Client(timeout=_TIMEOUT_S, headers=self._headers)
        self._async_http: httpx.AsyncClient | None = None
        self._classified: dict[tuple[str, str, str, str], Level] = {}
        self._history = HistoryCache(self._query_history, settled_ttl_s=history_cache_s)

    async def start(self) -> None:
        """Create the asynchronous client on the running loop (its connections belong to it)."""
        if self._async_http is None:
            self._async_http = httpx.AsyncClient(timeout=_TIMEOUT_S, headers=self._headers)

    async def aclose(self) -> None:
        """Close both clients; idempotent."""
        self._history.clear()
        client, self._async_http = self._async_http, None
        if client is not None:
            await client.aclose()
        await asyncio.to_thread(self._http.close)

    def classify(self, site: str, gateway: str, device: str, point: str) -> Level:
        """The point's classification, remembered: the rules are fixed for the registry's life
        and a page of 100 alerts would otherwise run every fnmatch rule 100 times."""
        key = (site, gateway, device, point)
        level = self._classified.get(key)
        if level is None:
            level = self.classification.classify(site, gateway, device, point)
            if len(self._classified) >= _CLASSIFIED_MAX:
                self._classified.clear()
            self._classified[key] = level
        return level

    def points(self, sites: frozenset[str] | None = None) -> list[PointInfo]:
        """Configured points plus reported series, sorted; ``sites`` restricts (``None``: all)."""
        known = {(p.site, p.gateway, p.device, p.point): p for p in self._configured}
        for key in self._reported_series():
            if key not in known:
                known[key] = PointInfo(
                    *key, unit="", description="", profile=None, classification=self.classify(*key)
                )
        return [p for k, p in sorted(known.items()) if sites is None or p.site in sites]

    def _reported_series(self) -> list[tuple[str, str, str, str]]:
        series = self._query('SHOW SERIES FROM "reading"')
        keys: list[tuple[str, str, str, str]] = []
        for s in series:
            for (key,) in s.get("values", []):
                tags = dict(part.split("=", 1) for part in str(key).split(",")[1:] if "=" in part)
                if all(t in tags for t in ("site", "gateway", "device", "point")):
                    keys.append((tags["site"], tags["gateway"], tags["device"], tags["point"]))
        return keys

    def latest(self, site: str | None = None) -> dict[tuple[str, str, str, str], Latest]:
        """The newest row of every series (of ``site``), by ``(site, gateway, device, point)``."""
        where = f" WHERE site = {_quote(site)}" if site is not None else ""
        series = self._query(
            f'SELECT "value", "quality" FROM "reading"{where} '
            'GROUP BY "site", "gateway", "device", "point" ORDER BY time DESC LIMIT 1'
        )
        latest: dict[tuple[str, str, str, str], Latest] = {}
        for s in series:
            tags = s.get("tags", {})
            columns = s["columns"]
            for row in s.get("values", [])[:1]:
                doc = dict(zip(columns, row, strict=False))
                key = (tags["site"], tags["gateway"], tags["device"], tags["point"])
                value = doc.get("value")
                latest[key] = Latest(
                    int(doc["time"]), float(value) if value is not None else None, doc.get("quality")
                )
        return latest

    async def history(self, key: Series, from_ms: int, to_ms: int) -> tuple[int, list[HistoryRow]]:
        """``(interval_ms, [(t_ms, mean, min, max, count), ...])``: the buckets that overlap
        ``[from_ms, to_ms)``, each aggregating its whole interval (see :mod:`cloud_api.history_cache`).

        Callers must not modify the rows. :class:`TimeSeriesError` if InfluxDB is unavailable.
        """
        interval = history_interval_ms(from_ms, to_ms)
        first, end = from_ms // interval * interval, -(-to_ms // interval) * interval
        return interval, await self._history.read(key, first, end, interval)

    async def _query_history(self, key: Series, lo: int, hi: int, interval: int) -> list[HistoryRow]:
        """One statement on one series (every tag pinned), bounded in time, one field,
        empty buckets left out (``fill(none)``)."""
        site, gateway, device, point = key
        query = (
            'SELECT MEAN("value"), MIN("value"), MAX("value"), COUNT("value") FROM "reading" '
            f"WHERE site = {_quote(site)} AND gateway = {_quote(gateway)} AND device = {_quote(device)} "
            f"AND point = {_quote(point)} AND time >= {lo}ms AND time < {hi}ms "
            f"GROUP BY time({interval}ms) fill(none)"
        )
        try:
            if self._async_http is not None:
                resp = await self._async_http.get(self._url, params=self._params(query))
            else:
                async with httpx.AsyncClient(timeout=_TIMEOUT_S, headers=self._headers) as client:
                    resp = await client.get(self._url, params=self._params(query))
            series = influx_series(resp, query)
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from exc
        return [
            (int(t), mean, low, high, int(count or 0))
            for s in series
            for t, mean, low, high, count in s.get("values", [])
        ]

    @property
    def _url(self) -> str:
        return f"{self.settings.influx_url}/query"

    def _params(self, query: str) -> dict[str, str]:
        return {"q": query, "db": self.settings.influx_db, "epoch": "ms"}

    def _query(self, query: str) -> list[dict[str, Any]]:
        """One InfluxQL statement, blocking; its series (as :func:`parkwatch.influxql.influxql`)."""
        try:
            return influx_series(self._http.get(self._url, params=self._params(query)), query)
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: httpx.HTTPError) -> TimeSeriesError:
        return TimeSeriesError(f"InfluxDB at {self.settings.influx_url} is unavailable: {exc}")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


class _ProfilePoint(BaseModel):
    name: str
    unit: str = ""
    description: str = ""


class _Profile(BaseModel):
    points: list[_ProfilePoint]


class _Device(BaseModel):
    id: str
    profile: str | None = None


class _Gateway(BaseModel):
    site: str
    gateway: str
    profiles_dir: str = "../profiles"
    devices: list[_Device]


def _load_points(firmware_configs: Path, classification: Classification) -> list[PointInfo]:
    """The points the gateway configs declare. Only the fields the registry needs are read (the
    edge agent validates the rest), so the API does not depend on the agent's driver code."""
    gateways_dir = firmware_configs / "gateways"
    if not gateways_dir.is_dir():
        return []
    points: list[PointInfo] = []
    profiles: dict[Path, _Profile] = {}
    for path in sorted(gateways_dir.glob("*.yaml")):
        try:
            config = _Gateway.model_validate(_read_yaml(path))
        except ValidationError as exc:
            raise ConfigError(f"{path}: not a gateway config: {exc}") from exc
        for device in config.devices:
            if device.profile is None:
                continue
            profile_path = (path.parent / config.profiles_dir / f"{device.profile}.yaml").resolve()
            if profile_path not in profiles:
                try:
                    profiles[profile_path] = _Profile.model_validate(_read_yaml(profile_path))
                except ValidationError as exc:
                    raise ConfigError(f"{profile_path}: not a device profile: {exc}") from exc
            for spec in profiles[profile_path].points:
                key = (config.site, config.gateway, device.id, spec.name)
                points.append(
                    PointInfo(
                        *key,
                        unit=spec.unit,
                        description=spec.description,
                        profile=device.profile,
                        classification=classification.classify(*key),
                    )
                )
    return points
