"""Live values on the stream: the newest reading of every point, polled from InfluxDB, pushed on change.

The API's cost must not grow with the park's reading rate, so it does not
follow the readings: every ``interval_s`` (2 s) it asks InfluxDB, in one
InfluxQL statement, for the newest row of every series that reported within
``window_s`` (60 s), and sends stream subscribers that asked for values
(``?values=true``) the points whose reading changed, one ``values`` message
per round::

    {"type": "values", "items": [{"site": "north", "gateway": "north-gw1", "device": "gas-01",
      "point": "ch4", "ts_ms": 1764189600000, "value": 12.3, "quality": "good", "masked": false}]}

A new subscriber first gets every value known (points silent longer than the
window before the API started are not; REST ``/points`` has them). The cost
is one query per round, whatever the rate, and nothing at all while no one
subscribes; it grows with the number of points reporting.

Each subscriber gets only the sites it may see, and sensitive points masked
(``value`` null, ``masked`` true) unless its role is cleared, as in
``GET /api/v1/points``; a cleared subscriber's first receipt of each
sensitive point is audited (``sensitive.read``, target ``stream``). Values
never cut a slow client off: while its queue is half full its rounds are
skipped, and it gets every value again once it has caught up.

InfluxDB unreachable: the round is logged and skipped; the next one retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Final

import httpx

from cloud_api.accounts import Principal
from cloud_api.dependencies import Services, now_ms
from cloud_api.masking import must_mask
from cloud_api.registry import influx_series
from cloud_api.stream_hub import QUEUE_MAX, StreamHub, Subscriber
from parkwatch.errors import ParkwatchError

__all__ = ["LiveValue", "LiveValues", "latest_query", "values_message"]

log = logging.getLogger(__name__)

#: ``(site, gateway, device, point)``
PointKey = tuple[str, str, str, str]
_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class LiveValue:
    site: str
    gateway: str
    device: str
    point: str
    ts_ms: int
    value: float | None
    quality: str | None


def latest_query(window_s: float) -> str:
    """The newest row of every series that reported in the last ``window_s`` seconds.

    >>> latest_query(60)  # doctest: +NORMALIZE_WHITESPACE
    'SELECT "value", "quality" FROM "reading" WHERE time > now() - 60s
     GROUP BY "site", "gateway", "device", "point" ORDER BY time DESC LIMIT 1'
    """
    return (
        f'SELECT "value", "quality" FROM "reading" WHERE time > now() - {int(window_s)}s '
        'GROUP BY "site", "gateway", "device", "point" ORDER BY time DESC LIMIT 1'
    )


def values_message(items: list[dict[str, Any]]) -> str:
    """The stream's JSON text for one round of values.

    >>> values_message([{"point": "ch4", "value": 1.5}])
    '{"type": "values", "items": [{"point": "ch4", "value": 1.5}]}'
    """
    return json.dumps({"type": "values", "items": items}, allow_nan=False)


class LiveValues:
    """Polls InfluxDB while someone subscribes to values; see the module docstring.

    The app's lifespan calls :meth:`start` after the hub's and :meth:`stop` before it.
    """

    def __init__(
        self, services: Services, hub: StreamHub, interval_s: float = 2.0, window_s: float = 60.0
    ) -> None:
        self.services = services
        self.hub = hub
        self.interval_s = interval_s
        self.window_s = window_s
        #: The newest value of every point seen, kept for new subscribers' first round.
        self.latest: dict[PointKey, LiveValue] = {}
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self.services.settings
        headers = {"Authorization": f"Token {settings.influx_token}"} if settings.influx_token else {}
        self._http = httpx.AsyncClient(timeout=_TIMEOUT_S, headers=headers)
        self._task = asyncio.create_task(self._run(), name="live-values")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client, self._http = self._http, None
        if client is not None:
            await client.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            watchers = [s for s in self.hub.subscribers if s.values]
            if not watchers:
                continue
            try:
                changed = self._merge(await self._poll())
            except (httpx.HTTPError, ParkwatchError, ValueError) as exc:
                log.warning("live values: reading InfluxDB failed (retrying): %s", exc)
                continue
            audits = self.fan_out(watchers, changed)
            if audits:
                await asyncio.to_thread(self._audit, audits)

    async def _poll(self) -> list[LiveValue]:
        assert self._http is not None, "started"
        settings = self.services.settings
        query = latest_query(self.window_s)
        resp = await self._http.get(
            f"{settings.influx_url}/query", params={"q": query, "db": settings.influx_db, "epoch": "ms"}
        )
        values = []
        for series in influx_series(resp, query):
            tags = series["tags"]
            for row in series.get("values", [])[:1]:
                doc = dict(zip(series["columns"], row, strict=False))
                value = doc.get("value")
                values.append(
                    LiveValue(
                        tags["site"], tags["gateway"], tags["device"], tags["point"], int(doc["time"]),
                        float(value) if value is not None else None, doc.get("quality"),
                    )
                )  # fmt: skip
        return values

    def _merge(self, polled: list[LiveValue]) -> list[LiveValue]:
        """Remember the polled values; returns those that differ from what was known (older
        readings than the known one are ignored; a rewrite of the same reading is a change)."""
        changed = []
        for value in polled:
            key = (value.site, value.gateway, value.device, value.point)
            known = self.latest.get(key)
            if known is None or (value.ts_ms >= known.ts_ms and value != known):
                self.latest[key] = value
                changed.append(value)
        return changed

    def fan_out(
        self, watchers: list[Subscriber], changed: list[LiveValue]
    ) -> list[tuple[Subscriber, list[str]]]:
        """Queue each watcher's round (masked as its role requires); returns sensitive reads to audit.

        A round is encoded once per kind of watcher (sites, clearance, changes or everything).
        """
        rounds: dict[tuple[frozenset[str] | None, bool, bool], tuple[str | None, list[str]]] = {}
        audits: list[tuple[Subscriber, list[str]]] = []
        for sub in watchers:
            if sub.overflowed or sub.queue.qsize() >= QUEUE_MAX // 2:
                sub.values_snapshot_due = True  # behind: skip this round, send everything later
                continue
            principal = sub.principal
            kind = (principal.sites, principal.cleared, sub.values_snapshot_due)
            if kind not in rounds:
                values = list(self.latest.values()) if sub.values_snapshot_due else changed
                rounds[kind] = self._round(values, principal)
            text, sensitive = rounds[kind]
            sub.values_snapshot_due = False
            if text is not None:
                sub.queue.put_nowait((None, text))
            first_reads = [name for name in sensitive if name not in sub.audited_points]
            if first_reads:
                sub.audited_points.update(first_reads)
                audits.append((sub, first_reads))
        return audits

    def _round(self, values: list[LiveValue], principal: Principal) -> tuple[str | None, list[str]]:
        """``(the message or None if empty, sensitive points sent unmasked)`` for ``principal``."""
        items = []
        sensitive_read = []
        for v in values:
            if not principal.may_see(v.site):
                continue
            sensitive = self.services.registry.classify(v.site, v.gateway, v.device, v.point) == "sensitive"
            masked = must_mask(principal, sensitive)
            items.append({**asdict(v), "value": None if masked else v.value, "masked": masked})
            if sensitive and not masked:
                sensitive_read.append(f"{v.site}/{v.gateway}/{v.device}/{v.point}")
        return (values_message(items) if items else None), sensitive_read

    def _audit(self, audits: list[tuple[Subscriber, list[str]]]) -> None:
        now = now_ms()
        for sub, points in audits:
            p = sub.principal
            self.services.audit.record(now, p.name, p.role, "sensitive.read", "stream", {"points": points})
