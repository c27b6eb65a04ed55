"""One runner per device: owns when a driver is read, how long it may take, and what failure means.

The driver only knows how to read once (:mod:`edge_agent.drivers.base`);
the runner decides the rest, so every driver gets the same behaviour:

- **Cadence.** Polls are scheduled on a fixed grid (``start + k * interval``);
  a slow poll does not shift later ones, and missed slots are skipped rather
  than run back to back.
- **Timeout.** Each ``read()`` is cut off after the device's ``timeout``.
- **Retries.** A failed ``read()`` is tried again at once up to ``retries``
  times (default 0) before the poll counts as failed; each attempt has the
  full ``timeout``. Retries are counted (``retries``), not as errors.
- **Failure.** A failed poll (timeout or :class:`~parkwatch.errors.DeviceError`)
  reports every point as ``comm_loss`` with value ``None``, so a silent
  device never looks like a steady one, and is counted.
- **Backoff.** After consecutive failures the next attempt waits
  ``interval * 2**(failures-1)``, capped at ``max_backoff``; one success
  returns to the normal cadence. A dead device therefore costs little and,
  since each runner is its own task, never delays another device.

Counters per device (``polls``, ``errors``, ``timeouts``, ``retries``, ``bad_readings``)
are kept here, not in drivers, and exported in the gateway status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from edge_agent.drivers.base import DeviceConfig, PolledDriver
from parkwatch.errors import DeviceError, DeviceTimeout
from parkwatch.wire.frames import Reading

__all__ = ["DeviceCounters", "DeviceRunner", "ReadingSink"]

log = logging.getLogger(__name__)

#: Receives each poll's readings: ``sink(device_id, readings)``; called on the event loop, must not block.
ReadingSink = Callable[[str, list[Reading]], None]


@dataclass(slots=True)
class DeviceCounters:
    """What happened to one device since the agent started."""

    polls: int = 0
    errors: int = 0
    timeouts: int = 0
    #: Extra attempts made after a failed read, within one poll.
    retries: int = 0
    bad_readings: int = 0
    consecutive_failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class DeviceRunner:
    """Polls one driver on its schedule and feeds the readings to a sink."""

    def __init__(self, config: DeviceConfig, driver: PolledDriver, sink: ReadingSink) -> None:
        self.config = config
        self.driver = driver
        self.sink = sink
        self.counters = DeviceCounters()
        #: Duration of the last poll and the sum over all polls, seconds (metrics).
        self.last_poll_s = 0.0
        self.poll_seconds_sum = 0.0

    @property
    def online(self) -> bool:
        """False while the device keeps failing."""
        return self.counters.consecutive_failures == 0

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; the driver is closed on the way out."""
        loop = asyncio.get_running_loop()
        interval = self.config.poll_interval_s
        next_at = loop.time()
        try:
            while not stop.is_set():
                ok = await self.poll_once()
                delay = interval if ok else self._backoff_s()
                next_at += delay
                now = loop.time()
                if next_at < now:  # overran: skip the missed slots, keep the grid
                    next_at += ((now - next_at) // interval + 1) * interval
                try:
                    await asyncio.wait_for(stop.wait(), timeout=next_at - now)
                except TimeoutError:
                    pass
        finally:
            await self.driver.close()

    async def poll_once(self) -> bool:
        """One poll (up to ``retries`` extra attempts), timed and counted; whether the device answered."""
        c = self.counters
        ts_ms = time.time_ns() // 1_000_000
        started = time.perf_counter()
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            try:
                readings = await asyncio.wait_for(self.driver.read(), timeout=self.config.timeout_s)
                break
            except (TimeoutError, DeviceTimeout, DeviceError) as exc:
                if attempt + 1 < attempts:
                    c.retries += 1
                    continue
                self._timed(started)
                if isinstance(exc, TimeoutError):
                    c.timeouts += 1
                    self._failed(ts_ms, f"no answer within {self.config.timeout_s:g}s")
                else:
                    if isinstance(exc, DeviceTimeout):
                        c.timeouts += 1
                    self._failed(ts_ms, str(exc))
                return False
        self._timed(started)
        c.polls += 1
        if c.consecutive_failures:
            log.info("device %s answers again after %d failed polls", self.config.id, c.consecutive_failures)
        c.consecutive_failures = 0
        c.bad_readings += sum(1 for r in readings if r.quality != "good")
        self.sink(self.config.id, readings)
        return True

    def _timed(self, started: float) -> None:
        self.last_poll_s = time.perf_counter() - started
        self.poll_seconds_sum += self.last_poll_s

    def _failed(self, ts_ms: int, reason: str) -> None:
        c = self.counters
        c.polls += 1
        c.errors += 1
        c.consecutive_failures += 1
        # Log the first failure and then every 10th, so a dead device does not flood the log.
        if c.consecutive_failures == 1 or c.consecutive_failures % 10 == 0:
            log.warning(
                "device %s: poll failed (%d in a row): %s", self.config.id, c.consecutive_failures, reason
            )
        self.sink(
            self.config.id, [Reading(name, ts_ms, None, "comm_loss") for name in self.driver.point_names]
        )

    def _backoff_s(self) -> float:
        failures = self.counters.consecutive_failures
        return float(min(self.config.poll_interval_s * 2 ** min(failures - 1, 30), self.config.max_backoff_s))
