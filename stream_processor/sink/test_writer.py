"""The batching writer against a transport double: batching, retries, refusals, backpressure, stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from parkwatch.settings import Settings
from stream_processor.sink.config import SinkConfig
from stream_processor.sink.transport import WriteFailed
from stream_processor.sink.writer import InfluxSink


class FlakyTransport:
    """Fails the first ``failures`` writes with the given error, records the rest."""

    def __init__(self, failures: int = 0, error: WriteFailed | None = None, delay_s: float = 0.0) -> None:
        self.failures = failures
        self.error = error or WriteFailed("boom", retryable=True)
        self.delay_s = delay_s
        self.bodies: list[bytes] = []
        self.prepared = 0

    async def prepare(self) -> None:
        self.prepared += 1

    async def write(self, body: bytes) -> None:
        await asyncio.sleep(self.delay_s)
        if self.failures:
            self.failures -= 1
            raise self.error
        self.bodies.append(body)

    async def close(self) -> None: ...

    def lines(self) -> list[str]:
        return [line for body in self.bodies for line in body.decode().split("\n")]


def _config(**values: object) -> SinkConfig:
    return SinkConfig.model_validate(values)


def _lines(n: int, start: int = 0) -> list[str]:
    return [f"m f={i}.0 {1700000000000 + i}" for i in range(start, start + n)]


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_batches_by_size_and_keeps_order() -> None:
    async def go() -> FlakyTransport:
        t = FlakyTransport()
        sink = InfluxSink(Settings(), _config(batch_lines=100, flush_interval="5s"), transport=t)
        await sink.start()
        await sink.write(_lines(250))
        await sink.flush()
        await sink.stop()
        assert sink.stats.lines_written == 250 and sink.stats.requests == 3
        return t

    t = _run(go())
    assert [len(b.decode().split("\n")) for b in t.bodies] == [100, 100, 50]
    assert t.lines() == _lines(250)


def test_flushes_on_interval_without_a_full_batch() -> None:
    async def go() -> None:
        t = FlakyTransport()
        sink = InfluxSink(Settings(), _config(flush_interval="50ms"), transport=t)
        await sink.start()
        await sink.write(_lines(3))
        await asyncio.sleep(0.3)
        assert t.lines() == _lines(3)
        await sink.stop()

    _run(go())


def test_retries_until_written_and_counts_failures() -> None:
    async def go() -> None:
        t = FlakyTransport(failures=3)
        sink = InfluxSink(Settings(), _config(flush_interval="10ms", retry_backoff_max="50ms"), transport=t)
        await sink.start()
        await sink.write(_lines(10))
        await sink.flush()
        assert t.lines() == _lines(10)
        assert (sink.stats.failures, sink.stats.lines_written, sink.stats.lost_lines) == (3, 10, 0)
        await sink.stop()

    _run(go())


def test_missing_database_is_prepared_again() -> None:
    async def go() -> None:
        t = FlakyTransport(failures=1, error=WriteFailed("database not found", retryable=True,
                                                          missing_database=True))
        sink = InfluxSink(Settings(), _config(flush_interval="10ms"), transport=t)
        await sink.start()
        await sink.write(_lines(2))
        await sink.flush()
        await sink.stop()
        assert t.prepared == 2 and t.lines() == _lines(2)

    _run(go())


def test_refused_lines_are_counted_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> InfluxSink:
        t = FlakyTransport(failures=1, error=WriteFailed("partial write: dropped=2", retryable=False,
                                                          dropped=2))
        sink = InfluxSink(Settings(), _config(flush_interval="10ms"), transport=t)
        await sink.start()
        await sink.write(_lines(5))
        await sink.flush()
        await sink.stop()
        return sink

    sink = _run(go())
    assert (sink.stats.rejected_lines, sink.stats.lines_written, sink.stats.requests) == (2, 3, 1)
    assert "InfluxDB refused 2 of 5 lines" in caplog.text


def test_write_blocks_while_too_much_is_pending() -> None:
    async def go() -> None:
        t = FlakyTransport(delay_s=0.2)
        sink = InfluxSink(Settings(), _config(batch_lines=10, max_buffered_lines=20), transport=t)
        await sink.start()
        await sink.write(_lines(10))
        blocked = asyncio.create_task(sink.write(_lines(30, start=10)))
        await asyncio.sleep(0.05)
        assert not blocked.done(), "a write over the bound must wait for the flush"
        await blocked
        await sink.flush()
        await sink.stop()
        assert t.lines() == _lines(40)

    _run(go())


def test_stop_gives_up_after_its_timeout_and_counts_the_loss(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> InfluxSink:
        t = FlakyTransport(failures=10**6)
        sink = InfluxSink(Settings(), _config(flush_interval="5s", stop_timeout="300ms",
                                                 retry_backoff_max="50ms"), transport=t)
        await sink.start()
        await sink.write(_lines(7))
        await sink.stop()
        return sink

    sink = _run(go())
    assert sink.stats.lost_lines == 7 and sink.stats.lines_written == 0
    assert "7 lines NOT written" in caplog.text


def test_on_written_fires_in_order_only_after_the_batch_holding_the_lines_succeeded() -> None:
    async def go() -> None:
        t = FlakyTransport(failures=2, delay_s=0.01)
        sink = InfluxSink(Settings(), _config(batch_lines=4, flush_interval="20ms",
                                                 retry_backoff_max="20ms"), transport=t)
        fired: list[tuple[int, int]] = []
        await sink.start()
        def confirm(i: int) -> Callable[[], None]:
            return lambda: fired.append((i, len(t.lines())))

        for i in range(5):
            await sink.write(_lines(3, start=3 * i), confirm(i))
        assert fired == [], "nothing is written yet"
        await sink.flush()
        # each callback saw at least every line up to and including its own
        assert [i for i, _ in fired] == [0, 1, 2, 3, 4]
        assert all(seen >= 3 * (i + 1) for i, seen in fired)
        await sink.write([], lambda: fired.append((99, 0)))
        assert fired[-1] == (99, 0), "no lines pending: confirmed at once"
        await sink.stop()

    _run(go())


def test_refused_lines_confirm_but_lines_lost_at_stop_never_do() -> None:
    async def go() -> None:
        refused = FlakyTransport(failures=1, error=WriteFailed("parse", retryable=False, dropped=1))
        sink = InfluxSink(Settings(), _config(flush_interval="20ms"), transport=refused)
        fired: list[str] = []
        await sink.start()
        await sink.write(_lines(2), lambda: fired.append("refused"))
        await sink.flush()
        await sink.stop()
        assert fired == ["refused"] and sink.stats.rejected_lines == 1

        down = FlakyTransport(failures=10**6)
        sink = InfluxSink(Settings(), _config(flush_interval="5s", stop_timeout="200ms",
                                                 retry_backoff_max="50ms"), transport=down)
        await sink.start()
        await sink.write(_lines(2), lambda: fired.append("lost"))
        await sink.stop()
        assert fired == ["refused"] and sink.stats.lost_lines == 2

    _run(go())
