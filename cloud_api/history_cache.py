"""History buckets kept between reads: settled buckets for a minute, the live tail for 2 s.

A history read's cost is InfluxDB's aggregation (10-30 ms for an hour of 1 Hz
readings in 10 s buckets on two shared cores), and the reads that dominate ask
mostly for buckets already answered: a wall's sparklines redrawn every few
seconds, screens that each take their own ``now``, several inspectors opening
one alert's trend. Buckets are aligned to multiples of their interval (as
InfluxQL's ``GROUP BY time`` aligns them), and a read covers whole buckets,
so reads of one series at one interval can share them whatever their exact
range:

* **settled** buckets (ending more than ``settle_ms`` before now, so live
  readings have reached InfluxDB) are kept per (series, interval) as one
  contiguous span. As time moves on only the new buckets are queried and
  appended. A span is read again whole ``settled_ttl_s`` after its oldest part
  was fetched, so readings that arrive later than that (a gateway's backlog
  after an outage) show within ``settled_ttl_s``;
* the **tail** (buckets that may still receive readings) is one query shared by
  identical reads begun in the last :data:`TAIL_TTL_S`.

Concurrent reads that need the same query join it; a failed query is not kept;
a caller that goes away does not cancel a query others wait for. Memory: at
most ``rows_max`` settled buckets are kept, the least recently read span
dropped first. ``settled_ttl_s=0`` turns all of it off: every read queries.

    >>> async def fetch(series, lo, hi, interval):
    ...     return [(t, 1.0, 1.0, 1.0, 1) for t in range(lo, hi, interval)]
    >>> cache = HistoryCache(fetch, now_ms=lambda: 100_000)
    >>> [t for t, *_ in asyncio.run(cache.read(("n", "g", "d", "p"), 40_000, 100_000, 10_000))]
    [40000, 50000, 60000, 70000, 80000, 90000]
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from cloud_api.shared_answers import SharedAnswers

__all__ = ["HistoryCache", "HistoryRow", "Series", "TAIL_TTL_S"]

#: One bucket: ``(t_ms, mean, min, max, count)``.
HistoryRow = tuple[int, float | None, float | None, float | None, int]
#: ``(site, gateway, device, point)``.
Series = tuple[str, str, str, str]
#: Buckets ``[lo, hi)`` of ``series`` at ``interval`` ms, sorted by time (empty buckets left out).
Fetch = Callable[[Series, int, int, int], Awaitable[list[HistoryRow]]]

#: How long an answer for the tail serves identical reads.
TAIL_TTL_S: Final = 2.0


def _time(row: HistoryRow) -> int:
    return row[0]


@dataclass(frozen=True, slots=True)
class _Span:
    """Settled buckets ``[lo, hi)`` of one series at one interval; never modified once built."""

    lo: int
    hi: int
    #: Monotonic time its oldest part was fetched.
    fetched_s: float
    rows: list[HistoryRow]

    def slice(self, lo: int, hi: int) -> list[HistoryRow]:
        return self.rows[bisect_left(self.rows, lo, key=_time) : bisect_left(self.rows, hi, key=_time)]

    def joined(self, lo: int, hi: int, fetched_s: float, rows: list[HistoryRow]) -> _Span:
        """This span and ``rows`` (fetched for ``[lo, hi)``, touching or overlapping it) as one."""
        before = self.slice(self.lo, lo) if self.lo < lo else []
        after = self.slice(hi, self.hi) if hi < self.hi else []
        fetched = min(self.fetched_s, fetched_s)
        return _Span(min(self.lo, lo), max(self.hi, hi), fetched, before + rows + after)


class HistoryCache:
    """Reads of whole buckets through ``fetch``, sharing what they can (see the module docstring).

    ``now_ms`` is the wall clock that decides which buckets are settled; ``clock`` the
    monotonic one that ages answers (both replaceable for tests).
    """

    def __init__(
        self,
        fetch: Fetch,
        settled_ttl_s: float = 60.0,
        settle_ms: int = 30_000,
        rows_max: int = 200_000,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch = fetch
        self.settled_ttl_s = settled_ttl_s
        self.settle_ms = settle_ms
        self.rows_max = rows_max
        self.now_ms = now_ms
        self.clock = clock
        self._spans: OrderedDict[tuple[Series, int], _Span] = OrderedDict()
        self._rows = 0
        #: Queries by (series, interval, lo, hi): running, or done within their time to serve.
        self._queries: SharedAnswers[tuple[Series, int, int, int], list[HistoryRow]] = SharedAnswers(
            clock=clock
        )

    async def read(self, series: Series, first: int, end: int, interval: int) -> list[HistoryRow]:
        """Buckets ``[first, end)``; both multiples of ``interval``. Callers must not modify them."""
        if self.settled_ttl_s <= 0:
            return await self.fetch(series, first, end, interval)
        edge = min(end, max(first, (self.now_ms() - self.settle_ms) // interval * interval))
        if edge == end:
            return await self._settled(series, interval, first, end)
        if edge == first:
            return await self._query(series, interval, first, end, TAIL_TTL_S)
        settled, tail = await asyncio.gather(
            self._settled(series, interval, first, edge), self._query(series, interval, edge, end, TAIL_TTL_S)
        )
        return settled + tail

    def clear(self) -> None:
        self._spans.clear()
        self._queries.clear()
        self._rows = 0

    async def _settled(self, series: Series, interval: int, lo: int, hi: int) -> list[HistoryRow]:
        key = (series, interval)
        span = self._spans.get(key)
        if span is not None and self.clock() - span.fetched_s >= self.settled_ttl_s:
            self._drop(key)
            span = None
        if span is not None and span.lo <= lo and hi <= span.hi:
            self._spans.move_to_end(key)
            return span.slice(lo, hi)
        began_s = self.clock()
        if span is not None and span.lo <= lo <= span.hi:  # time moved on: only the new buckets
            rows = await self._query(series, interval, span.hi, hi, 0.0)
            self._keep(key, span.hi, hi, began_s, rows)
            return span.slice(lo, span.hi) + rows
        rows = await self._query(series, interval, lo, hi, 0.0)
        self._keep(key, lo, hi, began_s, rows)
        return rows

    def _keep(
        self, key: tuple[Series, int], lo: int, hi: int, fetched_s: float, rows: list[HistoryRow]
    ) -> None:
        """Join ``rows`` to the series' span if it is fresh and they touch; else they replace it."""
        span = self._spans.get(key)
        if (
            span is not None
            and self.clock() - span.fetched_s < self.settled_ttl_s
            and span.lo <= hi
            and lo <= span.hi
        ):
            new = span.joined(lo, hi, fetched_s, rows)
        else:
            new = _Span(lo, hi, fetched_s, rows)
        self._drop(key)
        self._spans[key] = new
        self._rows += len(new.rows)
        while self._rows > self.rows_max and len(self._spans) > 1:
            self._drop(next(iter(self._spans)))

    def _drop(self, key: tuple[Series, int]) -> None:
        span = self._spans.pop(key, None)
        if span is not None:
            self._rows -= len(span.rows)

    async def _query(
        self, series: Series, interval: int, lo: int, hi: int, keep_s: float
    ) -> list[HistoryRow]:
        """One fetch of ``[lo, hi)``, joined by identical reads while it runs and ``keep_s`` after."""
        return await self._queries.get(
            (series, interval, lo, hi), lambda: self.fetch(series, lo, hi, interval), keep_s
        )
