"""Simulated Modbus RTU slaves: every ``modbus_rtu`` device of a gateway config, served on serial ports.

One pymodbus serial server runs per RS-485 line (``port`` in the config) and
answers for every unit id on it, with values from the same signals and
codec as the TCP simulator (:mod:`field_sim.devices`). The agent's port and
the simulator's are different ends of a cable; ``peers`` maps one to the
other (for a :class:`~field_sim.pty_pair.PtyPair`: ``agent_end -> device_end``).

Faults a real bus shows, switchable while serving:

- :meth:`RtuBusSimulator.set_fault` ``"dead"``: the unit never answers;
  ``"slow"``: it answers after ``delay_s``; ``"ok"``: back to normal.
- :meth:`RtuBusSimulator.corrupt_next_reply`: the unit's next reply goes out
  with a wrong CRC (``"crc"``) or behind a burst of line noise (``"garbage"``).
- :meth:`RtuBusSimulator.write_raw`: bytes straight onto the line.

Registers not in a profile answer "illegal address", as in the TCP simulator.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import SimDevice
from pymodbus.simulator.simcore import SimCore

from edge_agent.config import Gateway
from edge_agent.drivers.modbus_rtu.config import ModbusRtuConfig
from field_sim.devices import SimulatedDevice, sim_device, write_image
from field_sim.signals import DEFAULT_DAY_LENGTH_S
from parkwatch.errors import ConfigError

__all__ = ["UnitFault", "Corruption", "RtuBusSimulator"]

log = logging.getLogger(__name__)

UnitFault = Literal["ok", "dead", "slow"]
Corruption = Literal["crc", "garbage"]
_PARITY = {"none": "N", "even": "E", "odd": "O"}


@dataclass
class _UnitState:
    fault: UnitFault = "ok"
    delay_s: float = 0.0
    corrupt: list[Corruption] | None = None


class _FaultySimCore(SimCore):
    """pymodbus' datastore, with dead units (no answer) and slow ones (late answer)."""

    def __init__(self, devices: list[SimDevice], units: dict[int, _UnitState]) -> None:
        super().__init__(devices)
        self.units = units

    async def _gate(self, device_id: int) -> None:
        state = self.units.get(device_id)
        if state is None or state.fault == "dead":
            # With ignore_missing_devices the server then stays silent, as a dead slave does.
            raise NoSuchIdException(f"unit {device_id} does not answer")
        if state.fault == "slow":
            await asyncio.sleep(state.delay_s)

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        await self._gate(device_id)
        return await super().async_getValues(device_id, func_code, address, count)


class RtuBusSimulator:
    """Serves the ``modbus_rtu`` devices of one gateway config."""

    def __init__(
        self,
        gateway: Gateway,
        peers: Mapping[str, str],
        *,
        seed: int = 0,
        day_length_s: float = DEFAULT_DAY_LENGTH_S,
    ) -> None:
        self.peers = dict(peers)
        self.devices: dict[str, SimulatedDevice] = {}
        self._lines: dict[str, list[SimulatedDevice]] = {}
        for device in gateway.config.devices:
            if not isinstance(device, ModbusRtuConfig):
                continue
            if device.port not in self.peers:
                raise ConfigError(f"device {device.id}: no simulator end given for port {device.port}")
            sim = SimulatedDevice.build(
                gateway.config.site,
                gateway.config.gateway,
                device,
                gateway.profiles[device.profile],
                seed,
                day_length_s,
            )
            self.devices[device.id] = sim
            self._lines.setdefault(device.port, []).append(sim)
        self._units: dict[str, dict[int, _UnitState]] = {
            port: {d.config.unit_id: _UnitState() for d in devices} for port, devices in self._lines.items()
        }
        self._values: dict[str, dict[str, float]] = {}
        self._servers: dict[str, ModbusSerialServer] = {}

    def value(self, device_id: str, point: str) -> float:
        """The value currently served for ``point`` of ``device_id``."""
        return self._values[device_id][point]

    def set_fault(self, device_id: str, fault: UnitFault, delay_s: float = 0.2) -> None:
        """Make a unit dead, slow (answering after ``delay_s``) or healthy again."""
        state = self._state(device_id)
        state.fault, state.delay_s = fault, delay_s

    def corrupt_next_reply(self, device_id: str, how: Corruption) -> None:
        """Spoil the next reply of ``device_id`` on the wire; the one after is clean again."""
        state = self._state(device_id)
        state.corrupt = [*(state.corrupt or []), how]

    def write_raw(self, port: str, data: bytes) -> None:
        """Put ``data`` on the line of ``port`` (the agent's port name), as noise would."""
        with open(self.peers[port], "wb", buffering=0) as line:
            line.write(data)

    async def start(self) -> None:
        """Compute values at t=0 and serve every line."""
        self._compute(0.0)
        for port, devices in self._lines.items():
            c = devices[0].config
            assert isinstance(c, ModbusRtuConfig)
            units = self._units[port]
            sim_devices = [sim_device(d.config.unit_id, d.image(self._values[d.id])) for d in devices]
            server = ModbusSerialServer(
                sim_devices,
                framer=FramerType.RTU,
                port=self.peers[port],
                baudrate=c.baudrate,
                parity=_PARITY[c.parity],
                stopbits=c.stopbits,
                bytesize=c.bytesize,
                ignore_missing_devices=True,
                trace_packet=self._tracer(units),
            )
            server.context = _FaultySimCore(sim_devices, units)
            await server.serve_forever(background=True)
            self._servers[port] = server
        lines = ", ".join(self.peers[p] for p in self._lines)
        log.info("serving %d RTU units on %s", len(self.devices), lines)

    async def step(self, t_s: float) -> None:
        """Serve the values at ``t_s`` seconds of simulated time."""
        self._compute(t_s)
        for port, devices in self._lines.items():
            for device in devices:
                image = device.image(self._values[device.id])
                await write_image(self._servers[port], device.config.unit_id, image)

    async def stop(self) -> None:
        servers, self._servers = self._servers, {}
        for server in servers.values():
            await server.shutdown()

    # -- internals ------------------------------------------------------------------------------

    def _state(self, device_id: str) -> _UnitState:
        device = self.devices[device_id]
        assert isinstance(device.config, ModbusRtuConfig)
        return self._units[device.config.port][device.config.unit_id]

    def _compute(self, t_s: float) -> None:
        for device_id, device in self.devices.items():
            self._values[device_id] = {name: s.value(t_s) for name, s in device.signals.items()}

    @staticmethod
    def _tracer(units: dict[int, _UnitState]) -> _Tracer:
        return _Tracer(units)


class _Tracer:
    """pymodbus ``trace_packet`` hook: spoils outgoing replies on request."""

    def __init__(self, units: dict[int, _UnitState]) -> None:
        self.units = units
        self.noise = random.Random(0)

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        state = self.units.get(data[0])
        if state is None or not state.corrupt:
            return data
        how = state.corrupt.pop(0)
        if how == "crc":
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        return bytes(self.noise.randrange(256) for _ in range(7)) + data
