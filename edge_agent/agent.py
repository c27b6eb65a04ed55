"""The edge agent: device runners feed alarms, preprocessing and frames into a durable outbox.

Everything but the uplink's network thread, the outbox sender thread and the
metrics server runs on one asyncio loop:

- one :class:`~edge_agent.runner.DeviceRunner` task per polled device (timing,
  timeout, retries, backoff, ``comm_loss``) and one
  :class:`~edge_agent.push_runner.PushRunner` task per push device (MQTT
  sensors, streaming serial: start with retries, ``comm_loss`` for silent
  points, stop), each calling :meth:`EdgeAgent._collect` with its readings;
- ``_collect`` evaluates the local alarm rules on the raw readings
  (:mod:`edge_agent.alarms`; a state change goes into the outbox's alarm class
  at once), runs the preprocessing steps (:mod:`edge_agent.preprocess`) and
  adds what is left to the frame builder;
- a frame timer cuts a frame every ``frame_interval`` (a frame is also cut as
  soon as it holds ``max_readings_per_frame``); each frame is numbered and
  committed to the :class:`~edge_agent.outbox.Outbox` in one transaction;
- :class:`~edge_agent.sender.Sender` (its own thread) publishes stored records
  through :class:`~edge_agent.uplink.Uplink` and deletes them on PUBACK.

Readings are therefore never dropped for want of a connection: the outbox
fills (bounded by bytes, oldest data dropped and counted when full) and
replays after the outage.

A runner that dies of an unexpected exception (a bug, never a device
error) stops the agent, and ``run`` re-raises it after the shutdown below.

Shutdown (``stop`` set, or the duration over): runners stop polling (an
ongoing poll is given its timeout, then cancelled), the last readings are
cut into a frame and stored, the sender gets up to ``flush_timeout`` to
empty the outbox, and the final retained status is published. What is not
acknowledged by then stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass

from edge_agent.alarms import AlarmEvaluator
from edge_agent.config import Gateway
from edge_agent.drivers.base import PolledDriver, PushDriver
from edge_agent.drivers.registry import lookup
from edge_agent.frame_builder import SEQ_SENTINEL, FrameBuilder, encode_template
from edge_agent.health import collect_metrics
from edge_agent.metrics import MetricsServer
from edge_agent.outbox import Outbox
from edge_agent.preprocess import apply_steps, build_steps, flush_steps
from edge_agent.push_runner import PushRunner
from edge_agent.runner import DeviceRunner
from edge_agent.sender import Sender
from edge_agent.seq_store import SeqStore
from edge_agent.uplink import Uplink
from parkwatch.errors import ConfigError
from parkwatch.settings import Settings, load_settings
from parkwatch.wire.alarms import AlarmEvent, encode_alarm
from parkwatch.wire.frames import MAX_FRAME_BYTES, Frame, Reading, encode_frame

__all__ = ["AgentResult", "EdgeAgent"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What a run achieved, by broker acknowledgement."""

    frames_acked: int
    readings_acked: int
    #: Frames the outbox dropped because it was full (since the file was created).
    frames_dropped: int
    #: Whether the outbox was empty at the end: everything stored was acknowledged.
    all_acked: bool


class EdgeAgent:
    """Polls a gateway's devices and publishes their readings as frames."""

    def __init__(self, gateway: Gateway, settings: Settings | None = None) -> None:
        """Builds every driver and opens the outbox (no network I/O yet).

        Raises :class:`~parkwatch.errors.ConfigError` on bad config and
        :class:`~parkwatch.errors.OutboxError` when the outbox cannot be opened.
        """
        self.gateway = gateway
        self.settings = settings or load_settings()
        config = gateway.config
        # A configured state_dir is relative to the config file (an absolute one stays as it is).
        state_dir = self.settings.state_dir / "edge"
        if config.state_dir:
            state_dir = gateway.path.parent / config.state_dir
        stem = f"{config.site}.{config.gateway}"
        self.seq_mirror = SeqStore(state_dir / f"{stem}.seq")
        self.outbox = Outbox(
            state_dir / f"{stem}.outbox.db",
            max_bytes=int(config.outbox.max_size_mb * 1024 * 1024),
            durability=config.outbox.durability,
            initial_seq=self.seq_mirror.last,
        )
        self.builder = FrameBuilder(config.site, config.gateway, config.uplink.max_readings_per_frame, None)
        stored = self.outbox.active_alarms()
        gone = set(stored) - {r.rule for r in config.alarms}
        if gone:
            self.outbox.forget_alarms(gone)
        self.alarms = AlarmEvaluator(config.alarms, active=set(stored) - gone)
        if stored.keys() - gone:
            log.info("alarms still active from the last run: %s", ", ".join(sorted(stored.keys() - gone)))
        self._alarm_devices = {r.device for r in config.alarms}
        self.steps = build_steps(config.preprocessing)
        #: Polled devices, then push devices, each in config order.
        self.runners: list[DeviceRunner] = []
        self.push_runners: list[PushRunner] = []
        for device in config.devices:
            driver = lookup(device.driver).build(device, gateway.profiles)
            if isinstance(driver, PolledDriver):
                self.runners.append(DeviceRunner(device, driver, self._collect))
            elif isinstance(driver, PushDriver):
                stale_after_s = getattr(device, "stale_after_s", None)
                self.push_runners.append(PushRunner(device, driver, self._collect, stale_after_s))
            else:  # a driver registered with a factory that builds neither: a bug in the driver
                raise ConfigError(f"device {device.id}: driver {device.driver!r} is neither polled nor push")
        self.alarms_raised = 0
        self.readings_collected = 0
        self.readings_filtered = 0
        self.frames_oversize = 0
        self.sender = Sender(self.outbox, config.site, config.gateway, replay_rate=config.outbox.replay_rate)
        auth = config.uplink.auth.resolve(gateway.path.parent) if config.uplink.auth else None
        self.uplink = Uplink(
            self.settings,
            config.site,
            config.gateway,
            max_in_flight=config.uplink.max_in_flight_frames,
            keepalive_s=config.uplink.keepalive_s,
            reconnect_max_s=max(1, int(config.uplink.reconnect_max_s)),
            extra_counters=self.counters,
            on_settled=self.sender.on_settled,
            auth=auth,
        )
        self.metrics_server: MetricsServer | None = None
        if config.metrics is not None:
            self.metrics_server = MetricsServer(
                config.metrics.host, config.metrics.port, lambda: collect_metrics(self)
            )

    def counters(self) -> dict[str, int]:
        """Gateway-wide device, outbox and alarm counters for the status message."""
        counters = [r.counters for r in self.runners]
        pushed = [(r.counters, r.driver.counters) for r in self.push_runners]
        return {
            "devices": len(self.runners) + len(self.push_runners),
            "devices_offline": sum(1 for r in self._all_runners() if not r.online),
            "polls": sum(c.polls for c in counters),
            "poll_errors": sum(c.errors for c in counters),
            "poll_timeouts": sum(c.timeouts for c in counters),
            "poll_retries": sum(c.retries for c in counters),
            "push_messages": sum(d.messages for _, d in pushed),
            "push_parse_errors": sum(d.parse_errors for _, d in pushed),
            "push_start_errors": sum(c.start_errors for c, _ in pushed),
            "push_stale_reports": sum(c.stale_reports for c, _ in pushed),
            "bad_readings": sum(c.bad_readings for c in counters) + sum(c.bad_readings for c, _ in pushed),
            "readings_filtered": self.readings_filtered,
            "alarm_events": self.alarms_raised,
            "alarms_active": len(self.alarms.active()),
            **self.outbox.counters(),
        }

    def _all_runners(self) -> list[DeviceRunner | PushRunner]:
        return [*self.runners, *self.push_runners]

    # Kept for callers of the first version.
    device_counters = counters

    async def run(self, stop: asyncio.Event | None = None, duration_s: float | None = None) -> AgentResult:
        """Run until ``stop`` is set or ``duration_s`` passes; then shut down as described above."""
        stop = stop or asyncio.Event()
        uplink_cfg = self.gateway.config.uplink
        self.sender.start(self.uplink)
        self.uplink.start()
        if self.metrics_server is not None:
            self.metrics_server.start()
        polling = asyncio.Event()  # set to stop the runners
        tasks = [
            asyncio.create_task(r.run(polling), name=f"device:{r.config.id}") for r in self._all_runners()
        ]
        for task in tasks:
            # A runner only ends early through a bug: stop the agent rather than go on without the device.
            task.add_done_callback(lambda t: stop.set() if not t.cancelled() and t.exception() else None)
        loop = asyncio.get_running_loop()
        deadline = None if duration_s is None else loop.time() + duration_s
        status_due = loop.time() + uplink_cfg.status_interval_s
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
                self._release(time.time_ns() // 1_000_000)
                self._store(self.builder.flush())
                if loop.time() >= status_due:
                    self.uplink.refresh_status()
                    status_due = loop.time() + uplink_cfg.status_interval_s
        finally:
            polling.set()
            grace = max((r.config.timeout_s * (r.config.retries + 1) for r in self.runners), default=0.0)
            grace = max(grace, *(r.config.timeout_s for r in self.push_runners), 0.0) + 0.5
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            self._release(None)
            self._store(self.builder.flush())
            all_acked = await asyncio.to_thread(self._shutdown, uplink_cfg.flush_timeout_s)
        crashed = [o for o in outcomes if isinstance(o, Exception)]
        if crashed:
            raise crashed[0]
        dropped = self.outbox.counters()["outbox_frames_dropped"]
        return AgentResult(self.uplink.frames_acked, self.uplink.readings_acked, dropped, all_acked)

    def _shutdown(self, flush_timeout_s: float) -> bool:
        """Drain the outbox for up to ``flush_timeout_s``, stop sending, say goodbye, close the file."""
        drained = self.sender.drain(flush_timeout_s) if self.uplink.connected else False
        try:
            self.sender.stop()
        finally:
            self.uplink.stop(1.0 if drained else 0.5)
            self.sender.settle_pending()
            if self.metrics_server is not None:
                self.metrics_server.stop()
            remaining = self.outbox.depth()[0]
            self.outbox.close()
        if remaining:
            log.warning("%d records stay in the outbox for the next start", remaining)
        return remaining == 0

    def _collect(self, device: str, readings: list[Reading]) -> None:
        self.readings_collected += len(readings)
        if device in self._alarm_devices:
            for reading in readings:
                for state, rule_id, value in self.alarms.check(device, reading):
                    self._raise(device, reading, state, rule_id, value)
        if self.steps:
            kept = apply_steps(self.steps, device, readings)
            self.readings_filtered += max(0, len(readings) - len(kept))
            readings = kept
        for frame in self.builder.add(device, readings):
            self._store(frame)

    def _release(self, now_ms: int | None) -> None:
        """Readings the steps held back and that are due at ``now_ms`` (``None``: all) into frames."""
        if not self.steps:
            return
        for device, readings in flush_steps(self.steps, now_ms):
            for frame in self.builder.add(device, readings):
                self._store(frame)

    def _raise(self, device: str, reading: Reading, state: str, rule_id: str, value: float) -> None:
        rule = self.alarms.rule(rule_id)
        config = self.gateway.config
        event = AlarmEvent(
            config.site, config.gateway, device, reading.point, rule.rule,
            "high" if rule.kind == "high" else "low", rule.level,
            "raised" if state == "raised" else "cleared",
            value, rule.limit, reading.ts_ms, SEQ_SENTINEL,
        )  # fmt: skip
        seq = self.outbox.put_alarm(
            encode_template(encode_alarm(event)), rule.rule, state == "raised", reading.ts_ms
        )
        self.alarms_raised += 1
        self.sender.wake()
        log.warning(
            "alarm %s %s: %s/%s = %g (limit %g, level %d, alarm seq %d)",
            rule.rule, state, device, reading.point, value, rule.limit, rule.level, seq,
        )  # fmt: skip

    def _store(self, frame: Frame | None) -> None:
        """Number and commit ``frame`` to the outbox, then wake the sender."""
        if frame is None:
            return
        payload = encode_frame(
            dataclasses.replace(frame, seq=SEQ_SENTINEL, sent_ms=time.time_ns() // 1_000_000)
        )
        if len(payload) > MAX_FRAME_BYTES:  # max_readings_per_frame keeps frames well below; a bug otherwise
            self.frames_oversize += 1
            log.error("frame of %d readings is %d bytes, over the wire limit; not stored",
                      frame.reading_count, len(payload))  # fmt: skip
            return
        seq = self.outbox.put_frame(encode_template(payload), frame.reading_count)
        self.seq_mirror.record(seq)
        self.sender.wake()
