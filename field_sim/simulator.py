"""The field simulator: Modbus TCP servers for every device of some gateway configs.

One pymodbus server listens per ``host:port`` found in the configs and
answers for every unit id configured on it, so the edge agent reads the
simulated park exactly as it would read the real one. Every tick, each
point's value is recomputed (:mod:`field_sim.signals`), disturbed by any
active anomaly (:mod:`field_sim.anomalies`), encoded per its profile and
written into the server's registers. Registers not in a profile are invalid:
reading them gives an "illegal address" exception, as on real devices.

Values alone, without serving (:meth:`FieldSimulator.step`):

>>> from pathlib import Path
>>> from edge_agent.config import load_gateway
>>> gateways = Path(__file__).parents[1] / "firmware_configs" / "gateways"
>>> sim = FieldSimulator([load_gateway(gateways / "demo-north-gw1.yaml")], seed=1,
...                      anomalies=[Anomaly("spike", "gas-01", "ch4", at_s=1.0)])
>>> sim.step(); before = sim.value("gas-01", "ch4")
>>> sim.step(); during = sim.value("gas-01", "ch4")
>>> before < 5 < 40 < during, [t["kind"] for t in sim.truth]
(True, ['spike'])

Usage from code (tests, benchmarks)::

    sim = FieldSimulator([load_gateway(path)], seed=7, tick_s=0.5)
    await sim.start()
    sim.inject(Anomaly("spike", "gas-01", "ch4"))   # thread-safe
    await sim.run(duration_s=10)                    # ticks; stops the servers at the end
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from pymodbus.server import ModbusTcpServer

from edge_agent.config import Gateway
from edge_agent.drivers.modbus_tcp.config import ModbusTcpConfig
from field_sim.anomalies import Anomaly, ScheduledAnomaly, TruthLog, schedule
from field_sim.devices import RegisterImage, SimulatedDevice, sim_device, write_image
from field_sim.signals import DEFAULT_DAY_LENGTH_S
from parkwatch.errors import ConfigError

__all__ = ["FieldSimulator"]

log = logging.getLogger(__name__)


class FieldSimulator:
    """Simulated Modbus TCP devices for one or more gateway configs."""

    def __init__(
        self,
        gateways: Sequence[Gateway],
        *,
        seed: int = 0,
        tick_s: float = 1.0,
        day_length_s: float = DEFAULT_DAY_LENGTH_S,
        anomalies: Iterable[Anomaly] = (),
        truth_log: Path | None = None,
    ) -> None:
        if tick_s <= 0:
            raise ConfigError(f"tick must be > 0 s, got {tick_s}")
        self.seed = seed
        self.tick_s = tick_s
        self.devices: list[SimulatedDevice] = []
        for gateway in gateways:
            for device in gateway.config.devices:
                if not isinstance(device, ModbusTcpConfig):
                    log.warning(
                        "%s: device %s uses driver %s; not simulated", gateway.path, device.id, device.driver
                    )
                    continue
                profile = gateway.profiles[device.profile]
                self.devices.append(
                    SimulatedDevice.build(
                        gateway.config.site, gateway.config.gateway, device, profile, seed, day_length_s
                    )
                )
        self._endpoints = self._group_by_endpoint()
        self._servers: list[ModbusTcpServer] = []
        self._truth = TruthLog(truth_log)
        #: Every anomaly that has started, as written to the truth log.
        self.truth: list[dict[str, object]] = []
        self._pending: list[Anomaly] = []
        self._pending_lock = threading.Lock()
        self._scheduled: list[ScheduledAnomaly] = []
        self._tick = 0
        self._values: dict[tuple[str, str], dict[str, float]] = {}
        self._images: dict[tuple[str, str], RegisterImage] = {}
        for anomaly in anomalies:
            self.inject(anomaly)

    # -- public API -----------------------------------------------------------------------------

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every server, in config order."""
        return list(self._endpoints)

    @property
    def ticks(self) -> int:
        """Ticks computed so far, the first one at start."""
        return self._tick + 1 if self._values else 0

    def value(self, device: str, point: str) -> float:
        """The value currently served for ``device`` (``id`` or ``gateway/id``) and ``point``."""
        return self._values[self._key(device)][point]

    def step(self) -> None:
        """Compute the next tick without serving it: for dry runs and tests of the values alone."""
        self._compute(self._tick + 1 if self._values else 0)

    def inject(self, anomaly: Anomaly) -> None:
        """Queue an anomaly; it is checked now and scheduled at the next tick. Safe from any thread.

        Raises :class:`ConfigError` if the device or point does not exist, or
        if no magnitude is given for a point without a signal range.
        """
        device = self._find(anomaly.device)
        if anomaly.point not in device.signals:
            raise ConfigError(
                f"anomaly on {anomaly.device}: no point {anomaly.point!r}; "
                f"points: {', '.join(device.signals)}"
            )
        unsized = device.signals[anomaly.point].span is None
        if unsized and anomaly.magnitude is None and anomaly.kind != "stuck":
            raise ConfigError(
                f"anomaly {anomaly.kind} on {anomaly.device}/{anomaly.point}: the point has no signal range "
                "to size a default magnitude; give magnitude="
            )
        with self._pending_lock:
            self._pending.append(anomaly)

    async def start(self) -> None:
        """Compute the first tick and start listening on every endpoint."""
        self._compute(0)
        for (host, port), devices in self._endpoints.items():
            sim_devices = [sim_device(d.config.unit_id, self._images[self._key_of(d)]) for d in devices]
            server = ModbusTcpServer(sim_devices, address=(host, port))
            try:
                await server.serve_forever(background=True)
            except (RuntimeError, OSError) as exc:
                await self.stop()
                units = ", ".join(f"{d.id} (unit {d.config.unit_id})" for d in devices)
                raise ConfigError(f"cannot listen on {host}:{port} for {units}: {exc}") from exc
            self._servers.append(server)
        log.info(
            "serving %d devices on %d endpoints: %s",
            len(self.devices),
            len(self._servers),
            ", ".join(f"{h}:{p}" for h, p in self._endpoints),
        )

    async def run(self, stop: asyncio.Event | None = None, duration_s: float | None = None) -> None:
        """Tick until ``stop`` is set or ``duration_s`` has passed, then stop the servers."""
        if not self._servers:
            await self.start()
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        started = loop.time()
        base_tick = self._tick
        deadline = None if duration_s is None else started + duration_s
        try:
            while not stop.is_set():
                next_at = started + (self._tick - base_tick + 1) * self.tick_s
                if deadline is not None and next_at > deadline:
                    next_at = deadline
                try:
                    await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - loop.time()))
                    break
                except TimeoutError:
                    pass
                if deadline is not None and loop.time() >= deadline:
                    break
                # Catch up if the machine was busy: every tick is computed (deterministic),
                # only the last one is served.
                while (self._tick - base_tick + 1) * self.tick_s <= loop.time() - started + 1e-9:
                    self._compute(self._tick + 1)
                await self._write()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop listening; the truth log is closed."""
        servers, self._servers = self._servers, []
        for server in servers:
            await server.shutdown()
        self._truth.close()

    # -- internals ------------------------------------------------------------------------------

    def _group_by_endpoint(self) -> dict[tuple[str, int], list[SimulatedDevice]]:
        endpoints: dict[tuple[str, int], list[SimulatedDevice]] = {}
        for device in self.devices:
            if not isinstance(device.config, ModbusTcpConfig):
                continue
            key = (device.config.host, device.config.port)
            peers = endpoints.setdefault(key, [])
            for other in peers:
                if other.config.unit_id == device.config.unit_id:
                    raise ConfigError(
                        f"devices {other.gateway}/{other.id} and {device.gateway}/{device.id} both use "
                        f"{key[0]}:{key[1]} unit {device.config.unit_id}"
                    )
            peers.append(device)
        return endpoints

    def _find(self, name: str) -> SimulatedDevice:
        gateway, _, device_id = name.rpartition("/")
        matches = [d for d in self.devices if d.id == device_id and (not gateway or d.gateway == gateway)]
        if not matches:
            known = ", ".join(sorted(f"{d.gateway}/{d.id}" for d in self.devices))
            raise ConfigError(f"no simulated device {name!r}; devices: {known}")
        if len(matches) > 1:
            raise ConfigError(f"device id {name!r} is in several gateways; say GATEWAY/DEVICE")
        return matches[0]

    @staticmethod
    def _key_of(device: SimulatedDevice) -> tuple[str, str]:
        return (device.gateway, device.id)

    def _key(self, name: str) -> tuple[str, str]:
        return self._key_of(self._find(name))

    def _compute(self, tick: int) -> None:
        """Values and register images at ``tick``; activates queued and due anomalies."""
        self._tick = tick
        t_s = tick * self.tick_s
        self._schedule_pending(t_s)
        now_ms = time.time_ns() // 1_000_000
        for device in self.devices:
            key = self._key_of(device)
            values = {name: signal.value(t_s) for name, signal in device.signals.items()}
            for anomaly in self._scheduled:
                if (
                    anomaly.gateway != device.gateway
                    or anomaly.device != device.id
                    or not anomaly.active(t_s)
                ):
                    continue
                if not anomaly.started:
                    anomaly.started = True
                    self.truth.append(self._truth.record(anomaly, now_ms))
                    log.info(
                        "anomaly %s on %s/%s/%s started",
                        anomaly.kind,
                        device.gateway,
                        device.id,
                        anomaly.point,
                    )
                values[anomaly.point] = anomaly.apply(values[anomaly.point], t_s)
            self._values[key] = values
            self._images[key] = device.image(values)
        self._scheduled = [a for a in self._scheduled if a.end_s > t_s]

    def _schedule_pending(self, t_s: float) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for anomaly in pending:
            device = self._find(anomaly.device)
            scheduled = schedule(
                anomaly,
                site=device.site,
                gateway=device.gateway,
                now_s=t_s,
                tick_s=self.tick_s,
                poll_interval_s=device.config.poll_interval_s,
                span=device.signals[anomaly.point].span,
            )
            if scheduled.end_s <= t_s:
                log.warning(
                    "anomaly %s on %s/%s ended before it could start; skipped",
                    anomaly.kind,
                    anomaly.device,
                    anomaly.point,
                )
                continue
            self._scheduled.append(scheduled)

    async def _write(self) -> None:
        for server, devices in zip(self._servers, self._endpoints.values(), strict=True):
            for device in devices:
                await write_image(server, device.config.unit_id, self._images[self._key_of(device)])
