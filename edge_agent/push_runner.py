"""One runner per push driver (MQTT sensors, streaming serial): start, watch, stop.

A push driver delivers readings when its device speaks
(:class:`~edge_agent.drivers.base.PushDriver`); the runner owns what is
common to all of them, as :class:`~edge_agent.runner.DeviceRunner` does for
polled drivers:

- **Start.** ``start(sink)`` at agent startup. If it fails (broker not up
  yet, serial adapter missing) every point is reported ``comm_loss`` and
  the start is tried again after ``poll_interval``, doubling up to
  ``max_backoff``; the agent itself starts normally.
- **Silence.** With ``stale_after`` set, a point that received nothing for
  that long is reported with value null, again every ``stale_after`` while
  it stays silent: ``comm_loss`` when the whole device went quiet,
  ``stale`` when the device still sends its other points. So a sensor that
  stopped talking never looks like a steady value. Without ``stale_after``,
  silence is only visible as missing data.
- **Stop.** ``stop()`` when the agent shuts down.

Readings go to the same sink as polled readings (alarms, preprocessing,
frames). Counters (``starts``, ``start_errors``, ``stale_reports`` here;
``messages``, ``readings``, ``parse_errors`` from the driver) are in the
gateway status and the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass

from edge_agent.drivers.base import DeviceConfig, PushDriver
from edge_agent.runner import ReadingSink
from parkwatch.errors import DeviceError
from parkwatch.wire.frames import Reading

__all__ = ["PushCounters", "PushRunner"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PushCounters:
    """What the runner saw of one push device since the agent started."""

    starts: int = 0
    start_errors: int = 0
    #: Batches of ``comm_loss`` readings reported (silent points, failed starts).
    stale_reports: int = 0
    bad_readings: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class PushRunner:
    """Keeps one push driver started and watches its points for silence."""

    def __init__(
        self, config: DeviceConfig, driver: PushDriver, sink: ReadingSink, stale_after_s: float | None = None
    ) -> None:
        self.config = config
        self.driver = driver
        self.sink = sink
        self.stale_after_s = stale_after_s
        self.counters = PushCounters()
        self.started = False
        #: Monotonic time of the last reading (or report) per point.
        self._last_seen: dict[str, float] = {}
        self._stale: set[str] = set()
        #: Monotonic time a silent point was last reported, so it is reported once per stale_after.
        self._reported: dict[str, float] = {}

    @property
    def online(self) -> bool:
        """Started, and no point silent beyond ``stale_after``."""
        return self.started and not self._stale

    async def run(self, stop: asyncio.Event) -> None:
        """Start the driver (retrying with backoff), watch for silence until ``stop``, then stop it."""
        delay = self.config.poll_interval_s
        try:
            while not stop.is_set() and not self.started:
                if await self._try_start():
                    break
                if await _wait(stop, delay):
                    return
                delay = min(delay * 2, self.config.max_backoff_s)
            check_s = 1.0 if self.stale_after_s is None else max(0.05, min(1.0, self.stale_after_s / 4))
            while not await _wait(stop, check_s):
                if self.stale_after_s is not None:
                    self.check_stale(time.monotonic())
        finally:
            self.started = False
            await self.driver.stop()

    async def _try_start(self) -> bool:
        c = self.counters
        try:
            await self.driver.start(self._deliver)
        except DeviceError as exc:
            c.start_errors += 1
            if c.start_errors == 1 or c.start_errors % 10 == 0:
                log.warning("device %s: cannot start (%d failures): %s", self.config.id, c.start_errors, exc)
            self._report_lost(self.driver.point_names)
            return False
        c.starts += 1
        self.started = True
        now = time.monotonic()
        self._last_seen = dict.fromkeys(self.driver.point_names, now)
        self._reported = {}
        log.info("device %s: listening", self.config.id)
        return True

    def _deliver(self, readings: list[Reading]) -> None:
        """The driver's sink: on the loop, one message's readings."""
        now = time.monotonic()
        for r in readings:
            self._last_seen[r.point] = now
            self._reported.pop(r.point, None)
            if r.point in self._stale:
                self._stale.discard(r.point)
                log.info("device %s: point %s reports again", self.config.id, r.point)
        self.counters.bad_readings += sum(1 for r in readings if r.quality != "good")
        self.sink(self.config.id, readings)

    def check_stale(self, now: float) -> None:
        """Report points silent for ``stale_after`` (called by :meth:`run` with the monotonic time).

        ``stale`` when the device still sends other points (this one is no longer updated),
        ``comm_loss`` when nothing at all came from the device. Value null either way.
        """
        assert self.stale_after_s is not None
        limit = self.stale_after_s
        silent = [p for p, seen in self._last_seen.items() if now - seen >= limit]
        due = [p for p in silent if now - self._reported.get(p, float("-inf")) >= limit]
        if not due:
            return
        quality = "comm_loss" if len(silent) == len(self._last_seen) else "stale"
        fresh = [p for p in due if p not in self._stale]
        if fresh:
            log.warning(
                "device %s: nothing for %s in %gs (%s)", self.config.id, ", ".join(fresh), limit, quality
            )
        self._stale.update(due)
        for point in due:
            self._reported[point] = now  # report again after another stale_after
        self._report_lost(due, quality)

    def _report_lost(self, points: list[str], quality: str = "comm_loss") -> None:
        if not points:
            return
        ts_ms = time.time_ns() // 1_000_000
        self.counters.stale_reports += 1
        self.sink(self.config.id, [Reading(p, ts_ms, None, quality) for p in points])


async def _wait(stop: asyncio.Event, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``stop``; whether it is set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=timeout_s)
    except TimeoutError:
        pass
    return stop.is_set()
