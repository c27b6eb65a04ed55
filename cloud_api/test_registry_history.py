"""The history read's sharing of identical queries, against a stand-in InfluxDB (no services).

The query against the real InfluxDB is covered by ``tests/test_api_access.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from cloud_api.registry import Classification, Registry, TimeSeriesError
from parkwatch.settings import Settings

pytestmark = pytest.mark.anyio

KEY = ("north", "gw", "gas-01", "ch4")
ANSWER = {"results": [{"series": [{"values": [[0, 1.5, 1.0, 2.0, 2], [10_000, 2.5, 2.0, 3.0, 2]]}]}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeInflux:
    """Answers every query with :data:`ANSWER` after ``delay_s``, or 500 while ``failing``."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.queries = 0
        self.failing = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.queries += 1
        await asyncio.sleep(self.delay_s)
        if self.failing:
            return httpx.Response(500, text="overloaded")
        return httpx.Response(200, json=ANSWER)


def _registry(influx: FakeInflux, history_cache_s: float) -> Registry:
    registry = Registry(Settings(), Path("/nonexistent"), Classification(), history_cache_s=history_cache_s)
    registry._async_http = httpx.AsyncClient(transport=httpx.MockTransport(influx))
    return registry


async def test_concurrent_and_recent_identical_reads_share_one_query() -> None:
    influx = FakeInflux(delay_s=0.05)
    registry = _registry(influx, history_cache_s=60.0)
    answers = await asyncio.gather(*(registry.history(KEY, 0, 20_000) for _ in range(5)))
    rows = [(0, 1.5, 1.0, 2.0, 2), (10_000, 2.5, 2.0, 3.0, 2)]
    assert influx.queries == 1 and all(a == (1000, rows) for a in answers)
    await registry.history(KEY, 0, 20_000)
    assert influx.queries == 1
    await registry.history(KEY, 0, 20_001)  # another range is another query
    await registry.history(("north", "gw", "gas-02", "ch4"), 0, 20_000)
    assert influx.queries == 3
    await registry.aclose()


async def test_an_answer_older_than_the_cache_time_is_not_reused() -> None:
    influx = FakeInflux()
    registry = _registry(influx, history_cache_s=0.05)
    await registry.history(KEY, 0, 20_000)
    await asyncio.sleep(0.06)
    await registry.history(KEY, 0, 20_000)
    assert influx.queries == 2
    await registry.aclose()


async def test_a_failed_query_is_not_kept_and_cache_off_always_asks() -> None:
    influx = FakeInflux()
    registry = _registry(influx, history_cache_s=60.0)
    influx.failing = True
    with pytest.raises(TimeSeriesError):
        await registry.history(KEY, 0, 20_000)
    influx.failing = False
    assert (await registry.history(KEY, 0, 20_000))[1][0] == (0, 1.5, 1.0, 2.0, 2)
    assert influx.queries == 2
    await registry.aclose()

    influx = FakeInflux()
    registry = _registry(influx, history_cache_s=0.0)
    await registry.history(KEY, 0, 20_000)
    await registry.history(KEY, 0, 20_000)
    assert influx.queries == 2
    await registry.aclose()


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_query() -> None:
    influx = FakeInflux(delay_s=0.05)
    registry = _registry(influx, history_cache_s=60.0)
    first = asyncio.ensure_future(registry.history(KEY, 0, 20_000))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(registry.history(KEY, 0, 20_000))
    await asyncio.sleep(0.01)
    first.cancel()
    assert (await second)[0] == 1000 and influx.queries == 1
    await registry.aclose()
