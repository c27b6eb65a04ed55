"""Batched, retrying writes of line-protocol lines to InfluxDB.

Who calls what: the agent calls :meth:`InfluxSink.write` with each record's
lines (it returns at once unless the buffer is over ``max_buffered_lines``,
which is the backpressure that slows Kafka consumption instead of growing
memory). One flush task sends up to ``batch_lines`` per request: whenever
that many are waiting, and everything waiting every ``flush_interval``.
Nothing is dropped quietly: a failed request is retried with exponential
backoff, as long as the sink runs; InfluxDB refusing lines (a 4xx) is counted
in ``rejected_lines`` and logged; only at stop, after
``stop_timeout`` of failures, are the remaining lines counted in
``lost_lines`` and logged. Writes are idempotent (see
:mod:`~stream_processor.sink.line_protocol`), so a retry after a timeout that
did land costs nothing.

Delivery guarantee: ``write(lines, on_written=cb)`` calls ``cb()`` (from the
flush task, on the event loop) once the request holding the last of those
lines succeeded, or InfluxDB refused them for good (a 4xx, counted in
``rejected_lines``: retrying could never succeed). Callbacks run in the order
their lines were given. Lines given up on at stop (``lost_lines``) never call
back, so the Faust agent, which acks a Kafka record only from this callback,
leaves their offsets uncommitted and the next worker reads them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from parkwatch.settings import Settings
from stream_processor.sink.config import SinkConfig
from stream_processor.sink.transport import WriteFailed, WriteTransport, transport_for

__all__ = ["SinkStats", "InfluxSink", "OnWritten"]

#: Called without arguments once lines are settled in InfluxDB (see the module docstring).
OnWritten = Callable[[], object]

log = logging.getLogger(__name__)

_BACKOFF_MIN_S = 0.2


@dataclass
class SinkStats:
    """Totals since start."""

    lines_in: int = 0
    lines_written: int = 0
    requests: int = 0
    #: Failed requests (each retried or given up on).
    failures: int = 0
    #: Lines InfluxDB refused (4xx); logged with InfluxDB's reason.
    rejected_lines: int = 0
    #: Lines still unwritten when stop gave up; logged.
    lost_lines: int = 0

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)


class InfluxSink:
    """Buffers lines and writes them in batches; ``start`` before use, ``stop`` to flush.

    >>> class Recorder:
    ...     bodies: list[bytes] = []
    ...     async def prepare(self) -> None: ...
    ...     async def write(self, body: bytes) -> None: self.bodies.append(body)
    ...     async def close(self) -> None: ...
    >>> async def demo() -> list[bytes]:
    ...     sink = InfluxSink(Settings(), SinkConfig(), transport=Recorder())
    ...     await sink.start()
    ...     await sink.write(["m f=1 1700000000000", "m f=2 1700000000001"])
    ...     await sink.stop()
    ...     return Recorder.bodies
    >>> asyncio.run(demo())
    [b'm f=1 1700000000000\\nm f=2 1700000000001']
    """

    def __init__(self, settings: Settings, config: SinkConfig, *,
                 transport: WriteTransport | None = None) -> None:
        self.config = config
        self.stats = SinkStats()
        self._transport = transport or transport_for(settings, config.request_timeout_s)
        self._buffer: list[str] = []
        self._sending = 0
        self._kick = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._deadline: float | None = None
        self._prepared = False
        # Lines ever buffered / settled (written or refused), and the callbacks
        # waiting for the settled count to reach their line's number.
        self._seq_in = 0
        self._seq_settled = 0
        self._waiting: deque[tuple[int, OnWritten]] = deque()

    @property
    def pending_lines(self) -> int:
        """Lines accepted but not yet written (buffered or in the request in flight)."""
        return len(self._buffer) + self._sending

    async def start(self) -> None:
        """Prepare the target (logged, retried later if InfluxDB is not up) and start flushing."""
        await self._prepare()
        self._task = asyncio.create_task(self._flush_loop(), name="influx-sink-flush")

    async def write(self, lines: list[str], on_written: OnWritten | None = None) -> None:
        """Queue lines; waits only while more than ``max_buffered_lines`` are pending.

        ``on_written`` is called once these lines (and all given before them)
        are settled in InfluxDB; never if they are lost at stop.
        """
        self._buffer.extend(lines)
        self._seq_in += len(lines)
        self.stats.lines_in += len(lines)
        if on_written is not None:
            if self._seq_in == self._seq_settled:
                on_written()  # nothing of it (or before it) is pending
            else:
                self._waiting.append((self._seq_in, on_written))
        if len(self._buffer) >= self.config.batch_lines:
            self._kick.set()
        while self.pending_lines > self.config.max_buffered_lines and self._running():
            self._progress.clear()
            await self._progress.wait()

    async def flush(self) -> None:
        """Return once every line given so far is written (or counted as rejected/lost)."""
        while self.pending_lines and self._running():
            self._kick.set()
            self._progress.clear()
            await self._progress.wait()

    def _running(self) -> bool:
        """Whether the flush task is alive; re-raises the error it died of, if any."""
        task = self._task
        if task is None:
            return False
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise RuntimeError("InfluxDB sink flush task failed") from task.exception()
        return not task.done()

    async def stop(self) -> None:
        """Flush (retrying until ``stop_timeout``), then close the connection."""
        if self._task is None:
            return
        self._stopping = True
        self._deadline = asyncio.get_running_loop().time() + self.config.stop_timeout_s
        self._kick.set()
        try:
            await self._task
        finally:
            self._task = None
        await self._transport.close()
        log.info("influx sink stopped: %s", self.stats.snapshot())

    async def _prepare(self) -> None:
        try:
            await self._transport.prepare()
            self._prepared = True
        except WriteFailed as exc:
            log.warning("InfluxDB not ready (%s); will retry", exc)

    async def _flush_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), self.config.flush_interval_s)
            except TimeoutError:
                pass
            self._kick.clear()
            while self._buffer:
                batch = self._buffer[: self.config.batch_lines]
                del self._buffer[: self.config.batch_lines]
                self._sending = len(batch)
                if await self._send(batch):
                    self._settled(len(batch))
                self._sending = 0
                self._progress.set()
                # What arrived during the request waits for a full batch, the next interval or a
                # flush: sending it at once turned a steady stream into ~50 small requests a
                # second (100-odd lines each), costing the worker and InfluxDB CPU per request.
                if (len(self._buffer) < self.config.batch_lines and not self._kick.is_set()
                        and not self._stopping):
                    break
            self._progress.set()
            if self._stopping:
                return

    def _settled(self, lines: int) -> None:
        self._seq_settled += lines
        waiting = self._waiting
        while waiting and waiting[0][0] <= self._seq_settled:
            _, callback = waiting.popleft()
            try:
                callback()
            except Exception:  # noqa: BLE001 - one caller's bug must not stop the flush task
                log.exception("InfluxDB sink: on_written callback failed")

    async def _send(self, batch: list[str]) -> bool:
        """Write one batch, retrying; True once settled, False when given up on at stop."""
        body = "\n".join(batch).encode()
        delay = _BACKOFF_MIN_S
        loop = asyncio.get_running_loop()
        while True:
            if not self._prepared:
                await self._prepare()
            self.stats.requests += 1
            try:
                await self._transport.write(body)
                self.stats.lines_written += len(batch)
                return True
            except WriteFailed as exc:
                self.stats.failures += 1
                if not exc.retryable:
                    refused = exc.dropped if exc.dropped is not None else len(batch)
                    self.stats.rejected_lines += refused
                    self.stats.lines_written += len(batch) - refused
                    log.error("InfluxDB refused %d of %d lines: %s", refused, len(batch), exc)
                    return True
                if exc.missing_database:
                    self._prepared = False
                if self._deadline is not None and loop.time() >= self._deadline:
                    self.stats.lost_lines += len(batch) + len(self._buffer)
                    log.error("stopping: %d lines NOT written to InfluxDB (%s)",
                              len(batch) + len(self._buffer), exc)
                    self._buffer.clear()
                    self._waiting.clear()  # never confirmed: their records are read again
                    return False
                log.warning("InfluxDB write of %d lines failed (%s); retrying in %.1fs",
                            len(batch), exc, delay)
                await asyncio.sleep(delay)
                delay = min(2 * delay, self.config.retry_backoff_max_s)
