"""One simulated field device: its signals and the registers that encode them.

The register image is built with the same codec the edge agent decodes
with (:mod:`edge_agent.drivers.modbus_tcp.decode`), so a value the simulator
encodes is, byte order and scale included, the value the agent reports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from edge_agent.drivers.modbus_tcp.config import ModbusTcpConfig
from edge_agent.drivers.modbus_tcp.decode import encode_point
from edge_agent.register_map import DeviceProfile, RegisterType
from field_sim.signals import PointSignal

__all__ = ["RegisterImage", "SimulatedDevice", "contiguous_runs"]

#: Register type -> address -> 16-bit word.
RegisterImage = dict[RegisterType, dict[int, int]]


@dataclass
class SimulatedDevice:
    """A device of a gateway config, as the simulator serves it."""

    site: str
    gateway: str
    config: ModbusTcpConfig
    profile: DeviceProfile
    signals: dict[str, PointSignal] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        site: str,
        gateway: str,
        config: ModbusTcpConfig,
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
        """The registers holding ``values`` (engineering units, one per point)."""
        image: RegisterImage = {"holding": {}, "input": {}}
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
