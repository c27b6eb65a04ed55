"""One simulated field device: its signals and the registers that encode them.

The register image is built with the same codec the edge agent decodes
with (:mod:`edge_agent.drivers.modbus_common.decode`), so a value the simulator
encodes is, byte order and scale included, the value the agent reports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pymodbus.server import ModbusBaseServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge_agent.drivers.modbus_common.decode import encode_point
from edge_agent.drivers.modbus_rtu.config import ModbusRtuConfig
from edge_agent.drivers.modbus_tcp.config import ModbusTcpConfig
from edge_agent.register_map import DeviceProfile, RegisterType
from field_sim.signals import PointSignal

__all__ = [
    "FUNCTION_CODE",
    "ModbusDeviceConfig",
    "RegisterImage",
    "SimulatedDevice",
    "contiguous_runs",
    "sim_device",
    "write_image",
]

#: Function codes by which the server's datastore keeps each register type apart.
FUNCTION_CODE: dict[RegisterType, int] = {"coil": 1, "discrete_input": 2, "holding": 3, "input": 4}

#: The device configs the simulator can serve.
ModbusDeviceConfig = ModbusTcpConfig | ModbusRtuConfig

#: Register type -> address -> 16-bit word.
RegisterImage = dict[RegisterType, dict[int, int]]


@dataclass
class SimulatedDevice:
    """A device of a gateway config, as the simulator serves it."""

    site: str
    gateway: str
    config: ModbusDeviceConfig
    profile: DeviceProfile
    signals: dict[str, PointSignal] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        site: str,
        gateway: str,
        config: ModbusDeviceConfig,
        profile: DeviceProfile,
        seed: int,
        day_length_s: float,
    ) -> SimulatedDevice:
        # String seeds hash deterministically: a point's stream depends on the seed and its name only.
        signals = {
            p.name: PointSignal(
                p.signal, random.Random(f"{seed}/{site}/{gateway}/{config.id}/{p.name}"), day_length_s
            )
            for p in profile.points
        }
        return cls(site, gateway, config, profile, signals)

    @property
    def id(self) -> str:
        return self.config.id

    def image(self, values: dict[str, float]) -> RegisterImage:
        """The registers (and coils, discrete inputs: 0 or 1 each) holding ``values`` (engineering units)."""
        image: RegisterImage = {"holding": {}, "input": {}, "coil": {}, "discrete_input": {}}
        for point in self.profile.points:
            words = encode_point(point, values[point.name])
            table = image[point.register_type]
            for i, word in enumerate(words):
                address = point.address + i
                # Bit points share a register: OR them together.
                table[address] = table.get(address, 0) | word if point.type == "bit" else word
        return image


def contiguous_runs(table: dict[int, int]) -> list[tuple[int, list[int]]]:
    """Consecutive addresses grouped: ``[(start, [words...]), ...]`` in address order.

    >>> contiguous_runs({0: 1, 1: 2, 5: 3})
    [(0, [1, 2]), (5, [3])]
    """
    runs: list[tuple[int, list[int]]] = []
    for address in sorted(table):
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].append(table[address])
        else:
            runs.append((address, [table[address]]))
    return runs


def sim_device(unit_id: int, image: RegisterImage) -> SimDevice:
    """A pymodbus simulated device serving ``image``; unmapped registers answer "illegal address".

    Coils and discrete inputs are served in whole 16-bit groups (pymodbus
    stores bits in registers), so unmapped bits inside a group read as 0.
    """
    blocks = [
        [
            SimData(start, values=words, datatype=DataType.REGISTERS)
            for start, words in contiguous_runs(image[kind])
        ]
        # A block needs one entry; an invalid register keeps "no such register" answers honest.
        or [SimData(0, datatype=DataType.INVALID)]
        for kind in ("holding", "input")
    ]
    bits = []
    for kind in ("coil", "discrete_input"):
        table = image[kind]
        groups = max(table) // 16 + 1 if table else 1
        values = [bool(table.get(i, 0)) for i in range(groups * 16)]
        bits.append([SimData(0, values=values, datatype=DataType.BITS)])
    return SimDevice(unit_id, simdata=(bits[0], bits[1], blocks[0], blocks[1]))


async def write_image(server: ModbusBaseServer, unit_id: int, image: RegisterImage) -> None:
    """Write every value of ``image`` into a running server."""
    for kind, table in image.items():
        for start, words in contiguous_runs(table):
            is_bits = kind in ("coil", "discrete_input")
            values: list[int] | list[bool] = [bool(w) for w in words] if is_bits else words
            await server.async_setValues(unit_id, FUNCTION_CODE[kind], start, values)
