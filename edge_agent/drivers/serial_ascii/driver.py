"""Serial ASCII drivers: a sensor that speaks lines of text.

``mode: poll`` builds :class:`SerialAsciiPolledDriver`, read by the runner
like a Modbus device: each ``read()`` sends ``poll_command`` and waits for
one line. ``mode: stream`` builds :class:`SerialAsciiStreamDriver`, a push
driver: every line the sensor sends becomes readings stamped on arrival.
Contracts: :mod:`edge_agent.drivers.base`.

A line that does not match ``pattern`` (noise, a half line after a
power-up, a sensor error message) is counted in ``counters.parse_errors``
and logged (the first, then every 100th); in poll mode that poll reports
every point ``bad``, in stream mode the line is skipped. Neither ends
anything.
"""

from __future__ import annotations

import asyncio
import logging
import time

from edge_agent.drivers.base import DeviceConfig, MessageCounters, ProfileLibrary, ReadingsSink
from edge_agent.drivers.registry import register
from edge_agent.drivers.serial_ascii.config import SerialAsciiConfig
from edge_agent.drivers.serial_ascii.line_port import LinePort
from edge_agent.drivers.serial_ascii.parse import LineParser
from parkwatch.errors import DeviceError
from parkwatch.wire.frames import Reading

__all__ = ["SerialAsciiPolledDriver", "SerialAsciiStreamDriver", "build_serial_ascii"]

log = logging.getLogger(__name__)


class _SerialAsciiBase:
    def __init__(self, config: SerialAsciiConfig) -> None:
        self.config = config
        self.parser = LineParser(config.pattern, config.points)
        self._counters = MessageCounters()
        self._port = LinePort(
            config.port,
            baudrate=config.baudrate,
            parity=config.parity,
            stopbits=config.stopbits,
            bytesize=config.bytesize,
            max_line_length=config.max_line_length,
            on_line=self._on_line,
            on_overflow=lambda raw: self._parse_error(f"{len(raw)} bytes without a line end"),
            on_lost=self._on_lost,
        )

    @property
    def point_names(self) -> list[str]:
        return [p.name for p in self.config.points]

    @property
    def counters(self) -> MessageCounters:
        return self._counters

    @property
    def _where(self) -> str:
        return f"device {self.config.id} ({self.config.port})"

    def _parse(self, line: str, ts_ms: int) -> list[Reading] | None:
        self._counters.messages += 1
        readings = self.parser.parse(line, ts_ms)
        if readings is None:
            self._parse_error(f"line does not match pattern: {line[:80]!r}")
        else:
            self._counters.readings += len(readings)
        return readings

    def _parse_error(self, what: str) -> None:
        self._counters.parse_errors += 1
        n = self._counters.parse_errors
        if n == 1 or n % 100 == 0:
            log.warning("%s: %s (%d parse errors so far)", self._where, what, n)

    def _on_line(self, line: str) -> None:
        raise NotImplementedError

    def _on_lost(self, exc: Exception) -> None:
        log.warning("%s: port lost: %s", self._where, exc)


class SerialAsciiPolledDriver(_SerialAsciiBase):
    """Request/response: ``poll_command`` out, one line back, per ``read()``."""

    def __init__(self, config: SerialAsciiConfig) -> None:
        super().__init__(config)
        assert config.poll_command is not None
        self._command = config.poll_command.encode("ascii", errors="strict")
        self._answer: asyncio.Future[str] | None = None

    async def read(self) -> list[Reading]:
        self._port.open()
        self._port.discard_input()
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._answer = answer
        ts_ms = time.time_ns() // 1_000_000
        try:
            self._port.write(self._command)
            line = await answer  # the runner bounds this with the device timeout
        finally:
            self._answer = None
        readings = self._parse(line, ts_ms)
        if readings is None:
            return [Reading(name, ts_ms, None, "bad") for name in self.point_names]
        return readings

    async def close(self) -> None:
        self._port.close()

    def _on_line(self, line: str) -> None:
        if not line.strip():
            return
        if self._answer is None or self._answer.done():
            self._parse_error(f"line nobody asked for: {line[:80]!r}")
            return
        self._answer.set_result(line)

    def _on_lost(self, exc: Exception) -> None:
        super()._on_lost(exc)
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(DeviceError(f"{self._where}: port lost: {exc}"))


class SerialAsciiStreamDriver(_SerialAsciiBase):
    """The sensor talks on its own; every matching line is delivered to the sink.

    If the port fails (a USB adapter unplugged), it is reopened after
    ``poll_interval``, doubling up to ``max_backoff`` while it keeps failing.
    """

    def __init__(self, config: SerialAsciiConfig) -> None:
        super().__init__(config)
        self._sink: ReadingsSink | None = None
        self._reopen: asyncio.TimerHandle | None = None
        self._delay_s = config.poll_interval_s

    async def start(self, sink: ReadingsSink) -> None:
        self._sink = sink
        self._port.open()
        self._delay_s = self.config.poll_interval_s

    async def stop(self) -> None:
        self._sink = None
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        self._port.close()

    def _on_line(self, line: str) -> None:
        if not line.strip() or self._sink is None:
            return
        readings = self._parse(line, time.time_ns() // 1_000_000)
        if readings is not None:
            self._sink(readings)

    def _on_lost(self, exc: Exception) -> None:
        super()._on_lost(exc)
        self._schedule_reopen()

    def _schedule_reopen(self) -> None:
        if self._sink is None:
            return
        self._reopen = asyncio.get_running_loop().call_later(self._delay_s, self._try_reopen)

    def _try_reopen(self) -> None:
        self._reopen = None
        try:
            self._port.open()
        except DeviceError as exc:
            self._delay_s = min(self._delay_s * 2, self.config.max_backoff_s)
            log.warning("%s: %s; next try in %gs", self._where, exc, self._delay_s)
            self._schedule_reopen()
            return
        log.info("%s: port open again", self._where)
        self._delay_s = self.config.poll_interval_s


@register("serial_ascii", SerialAsciiConfig)
def build_serial_ascii(
    config: DeviceConfig, profiles: ProfileLibrary
) -> SerialAsciiPolledDriver | SerialAsciiStreamDriver:
    """The driver for ``config.mode``; no I/O."""
    if not isinstance(config, SerialAsciiConfig):
        raise TypeError(f"serial_ascii needs a SerialAsciiConfig, got {type(config).__name__}")
    if config.mode == "poll":
        return SerialAsciiPolledDriver(config)
    return SerialAsciiStreamDriver(config)
