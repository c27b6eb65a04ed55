"""The edge agent: device runners feed the frame builder, frames go out through the uplink.

Everything but the uplink's network thread runs on one asyncio loop:

- one :class:`~edge_agent.runner.DeviceRunner` task per device (timing, timeout,
  backoff, ``comm_loss``), each calling :meth:`EdgeAgent._collect` with its readings;
- a frame timer that cuts a frame every ``frame_interval`` (a frame is also
  cut as soon as it holds ``max_readings_per_frame``);
- :class:`~edge_agent.uplink.Uplink` publishing each frame without blocking
  the loop: if its in-flight window is full, the frame is dropped and
  counted (its ``seq`` gap tells the cloud); the durable outbox of a later
  issue replaces that drop.

A runner that dies of an unexpected exception (a bug, never a device
error) stops the agent, and ``run`` re-raises it after the shutdown below.

Shutdown (``stop`` set, or the duration over): runners stop polling (an
ongoing poll is given its timeout, then cancelled), the last readings are
cut into a frame, outstanding acknowledgements are awaited up to
``flush_timeout``, and the final retained status is published.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from edge_agent.config import Gateway
from edge_agent.drivers.registry import lookup
from edge_agent.frame_builder import FrameBuilder
from edge_agent.runner import DeviceRunner
from edge_agent.seq_store import SeqStore
from edge_agent.uplink import Uplink
from parkwatch.errors import FrameError, OutboxError
from parkwatch.settings import Settings, load_settings
from parkwatch.wire.frames import Frame, Reading

__all__ = ["AgentResult", "EdgeAgent"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What a run achieved, by broker acknowledgement."""

    frames_acked: int
    readings_acked: int
    frames_dropped: int
    all_acked: bool


class EdgeAgent:
    """Polls a gateway's devices and publishes their readings as frames."""

    def __init__(self, gateway: Gateway, settings: Settings | None = None) -> None:
        """Builds every driver (no I/O yet); raises :class:`~parkwatch.errors.ConfigError` on bad config."""
        self.gateway = gateway
        self.settings = settings or load_settings()
        config = gateway.config
        # A configured state_dir is relative to the config file (an absolute one stays as it is).
        state_dir = self.settings.state_dir / "edge"
        if config.state_dir:
            state_dir = gateway.path.parent / config.state_dir
        self.seq = SeqStore(state_dir / f"{config.site}.{config.gateway}.seq")
        self.builder = FrameBuilder(
            config.site, config.gateway, config.uplink.max_readings_per_frame, self.seq
        )
        self.runners = [
            DeviceRunner(device, lookup(device.driver).factory(device, gateway.profiles), self._collect)
            for device in config.devices
        ]
        self.uplink = Uplink(
            self.settings,
            config.site,
            config.gateway,
            max_in_flight=config.uplink.max_in_flight_frames,
            keepalive_s=config.uplink.keepalive_s,
            extra_counters=self.device_counters,
        )

    def device_counters(self) -> dict[str, int]:
        """Gateway-wide device counters for the status message."""
        counters = [r.counters for r in self.runners]
        return {
            "devices": len(self.runners),
            "devices_offline": sum(1 for r in self.runners if not r.online),
            "polls": sum(c.polls for c in counters),
            "poll_errors": sum(c.errors for c in counters),
            "poll_timeouts": sum(c.timeouts for c in counters),
            "bad_readings": sum(c.bad_readings for c in counters),
        }

    async def run(self, stop: asyncio.Event | None = None, duration_s: float | None = None) -> AgentResult:
        """Run until ``stop`` is set or ``duration_s`` passes; then shut down as described above."""
        stop = stop or asyncio.Event()
        uplink_cfg = self.gateway.config.uplink
        self.uplink.start()
        polling = asyncio.Event()  # set to stop the runners
        tasks = [asyncio.create_task(r.run(polling), name=f"device:{r.config.id}") for r in self.runners]
        for task in tasks:
            # A runner only ends early through a bug: stop the agent rather than go on without the device.
            task.add_done_callback(lambda t: stop.set() if not t.cancelled() and t.exception() else None)
        loop = asyncio.get_running_loop()
        deadline = None if duration_s is None else loop.time() + duration_s
        try:
            while not stop.is_set():
                timeout = uplink_cfg.frame_interval_s
                if deadline is not None:
                    timeout = min(timeout, deadline - loop.time())
                    if timeout <= 0:
                        break
                try:
                    await asyncio.wait_for(stop.wait(), timeout=timeout)
                except TimeoutError:
                    pass
                self._send(self.builder.flush())
        finally:
            polling.set()
            grace = max(r.config.timeout_s for r in self.runners) + 0.5
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            self._send(self.builder.flush())
            all_acked = await asyncio.to_thread(self.uplink.stop, uplink_cfg.flush_timeout_s)
        crashed = [o for o in outcomes if isinstance(o, Exception)]
        if crashed:
            raise crashed[0]
        return AgentResult(
            self.uplink.frames_acked, self.uplink.readings_acked, self.uplink.frames_dropped, all_acked
        )

    def _collect(self, device: str, readings: list[Reading]) -> None:
        for frame in self.builder.add(device, readings):
            self._send(frame)

    def _send(self, frame: Frame | None) -> None:
        if frame is None:
            return
        try:
            self.uplink.publish(frame, timeout_s=0)
        except (OutboxError, FrameError) as exc:
            log.warning("frame seq %d (%d readings) dropped: %s", frame.seq, frame.reading_count, exc)
