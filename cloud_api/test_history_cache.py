"""What the history cache answers and which queries it makes, with a fetch that aggregates an
in-memory series (the reads against the real InfluxDB are ``tests/test_api_history.py``)."""

from __future__ import annotations

import asyncio

import pytest

from cloud_api.history_cache import HistoryCache, HistoryRow, Series

pytestmark = pytest.mark.anyio

SERIES: Series = ("north", "gw", "gas-01", "ch4")
OTHER: Series = ("north", "gw", "gas-02", "ch4")
S = 1000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Source:
    """Readings ``{t_ms: value}`` per series, aggregated like ``GROUP BY time(interval) fill(none)``;
    records every fetch's ``(series, lo, hi)``."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.readings: dict[Series, dict[int, float]] = {}
        self.fetches: list[tuple[Series, int, int]] = []
        self.delay_s = delay_s
        self.failing = False

    async def __call__(self, series: Series, lo: int, hi: int, interval: int) -> list[HistoryRow]:
        self.fetches.append((series, lo, hi))
        await asyncio.sleep(self.delay_s)
        if self.failing:
            raise RuntimeError("InfluxDB is unavailable")
        return self.aggregate(series, lo, hi, interval)

    def aggregate(self, series: Series, lo: int, hi: int, interval: int) -> list[HistoryRow]:
        """The reference answer (not recorded as a fetch)."""
        buckets: dict[int, list[float]] = {}
        for t, v in sorted(self.readings.get(series, {}).items()):
            if lo <= t < hi:
                buckets.setdefault(t // interval * interval, []).append(v)
        return [(t, sum(vs) / len(vs), min(vs), max(vs), len(vs)) for t, vs in sorted(buckets.items())]


class Clocks:
    def __init__(self, now_ms: int) -> None:
        self.wall_ms = now_ms
        self.mono_s = 0.0

    def advance(self, seconds: float) -> None:
        self.wall_ms += int(seconds * 1000)
        self.mono_s += seconds


def _cache(source: Source, clocks: Clocks, **kwargs: float) -> HistoryCache:
    return HistoryCache(source, now_ms=lambda: clocks.wall_ms, clock=lambda: clocks.mono_s, **kwargs)  # type: ignore[arg-type]


def _hour(source: Source, series: Series = SERIES, start: int = 0) -> None:
    source.readings.setdefault(series, {}).update({start + t * S: float(t % 60) for t in range(3600)})


async def test_reads_equal_one_query_of_the_whole_range_as_time_moves_on() -> None:
    source, clocks = Source(), Clocks(3600 * S)
    _hour(source)
    cache = _cache(source, clocks)
    assert await cache.read(SERIES, 0, 3600 * S, 10 * S) == source.aggregate(SERIES, 0, 3600 * S, 10 * S)
    # The settled part (buckets ended 30 s before now) and the tail, in parallel.
    assert source.fetches == [(SERIES, 0, 3570 * S), (SERIES, 3570 * S, 3600 * S)]

    source.fetches.clear()
    for step in range(1, 5):  # a wall's refresh every 5 s, each with its own now
        clocks.advance(5)
        source.readings[SERIES].update({3600 * S + t * S: 100.0 for t in range(5 * step)})
        end = -(-clocks.wall_ms // (10 * S)) * 10 * S
        first = end - 3600 * S
        assert await cache.read(SERIES, first, end, 10 * S) == source.aggregate(SERIES, first, end, 10 * S)
    # Only tails and newly settled buckets were read: never more than 40 s at a time.
    assert source.fetches and all(hi - lo <= 40 * S for _, lo, hi in source.fetches)


async def test_screens_with_their_own_now_share_the_tail_within_two_seconds() -> None:
    source, clocks = Source(), Clocks(3600 * S + 3 * S)
    _hour(source)
    cache = _cache(source, clocks)
    first, end = 0, 3610 * S
    await cache.read(SERIES, first, end, 10 * S)
    clocks.advance(1.5)
    await cache.read(SERIES, first, end, 10 * S)
    assert len(source.fetches) == 2
    clocks.advance(1.0)  # the tail's answer is now older than 2 s
    await cache.read(SERIES, first, end, 10 * S)
    assert source.fetches[-1] == (SERIES, 3570 * S, 3610 * S) and len(source.fetches) == 3


async def test_late_readings_in_settled_buckets_show_after_the_cache_time() -> None:
    source, clocks = Source(), Clocks(7200 * S)
    _hour(source)
    cache = _cache(source, clocks, settled_ttl_s=60.0)
    before = await cache.read(SERIES, 0, 3600 * S, 10 * S)
    source.readings[SERIES][5 * S] = 1000.0  # a gateway's backlog reaches InfluxDB
    clocks.advance(59)
    assert await cache.read(SERIES, 0, 3600 * S, 10 * S) == before
    clocks.advance(1)
    after = await cache.read(SERIES, 0, 3600 * S, 10 * S)
    assert after[0][3] == 1000.0 and after[1:] == before[1:]


async def test_a_wider_or_earlier_range_is_queried_and_joined() -> None:
    source, clocks = Source(), Clocks(7200 * S)
    _hour(source)
    cache = _cache(source, clocks)
    await cache.read(SERIES, 1800 * S, 3600 * S, 10 * S)
    await cache.read(SERIES, 0, 1800 * S, 10 * S)  # earlier, touching: joined
    source.fetches.clear()
    assert await cache.read(SERIES, 0, 3600 * S, 10 * S) == source.aggregate(SERIES, 0, 3600 * S, 10 * S)
    assert source.fetches == []
    await cache.read(SERIES, 0, 3600 * S, 60 * S)  # another width: its own buckets
    await cache.read(OTHER, 0, 3600 * S, 10 * S)
    assert len(source.fetches) == 2


async def test_concurrent_reads_share_a_query_a_failure_is_not_kept() -> None:
    source, clocks = Source(delay_s=0.05), Clocks(7200 * S)
    _hour(source)
    cache = _cache(source, clocks)
    answers = await asyncio.gather(*(cache.read(SERIES, 0, 3600 * S, 10 * S) for _ in range(5)))
    assert len(source.fetches) == 1 and all(a == answers[0] for a in answers) and len(answers[0]) == 360

    source.failing = True
    with pytest.raises(RuntimeError):
        await cache.read(OTHER, 0, 3600 * S, 10 * S)
    source.failing = False
    await cache.read(OTHER, 0, 3600 * S, 10 * S)
    assert len(source.fetches) == 3


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_query() -> None:
    source, clocks = Source(delay_s=0.05), Clocks(7200 * S)
    _hour(source)
    cache = _cache(source, clocks)
    first = asyncio.ensure_future(cache.read(SERIES, 0, 3600 * S, 10 * S))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(cache.read(SERIES, 0, 3600 * S, 10 * S))
    await asyncio.sleep(0.01)
    first.cancel()
    assert len(await second) == 360 and len(source.fetches) == 1


async def test_memory_is_bounded_least_recently_read_dropped_first() -> None:
    source, clocks = Source(), Clocks(7200 * S)
    series = [("north", "gw", f"gas-{i:02d}", "ch4") for i in range(3)]
    for s in series:
        _hour(source, s)
    cache = _cache(source, clocks, rows_max=800)
    for s in series[:2]:
        await cache.read(s, 0, 3600 * S, 10 * S)
    await cache.read(series[0], 0, 3600 * S, 10 * S)  # series 0 read last
    await cache.read(series[2], 0, 3600 * S, 10 * S)  # 1,080 rows > 800: series 1 goes
    source.fetches.clear()
    await cache.read(series[0], 0, 3600 * S, 10 * S)
    await cache.read(series[1], 0, 3600 * S, 10 * S)
    assert [s for s, _, _ in source.fetches] == [series[1]]


async def test_cache_time_zero_queries_every_read() -> None:
    source, clocks = Source(), Clocks(7200 * S)
    _hour(source)
    cache = _cache(source, clocks, settled_ttl_s=0.0)
    await cache.read(SERIES, 0, 3600 * S, 10 * S)
    await cache.read(SERIES, 0, 3600 * S, 10 * S)
    assert source.fetches == [(SERIES, 0, 3600 * S)] * 2
