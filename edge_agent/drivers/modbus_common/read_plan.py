"""Which register ranges to request so every point is read in the fewest requests.

Each request costs a round trip (and, on a shared RS-485 line, bus time), so
points next to each other are read together. A block never exceeds the
Modbus limit of 125 registers per read, never splits a point, and never
spans a gap unless ``max_gap`` allows it: many devices answer a read that
touches an unmapped register with "illegal address", losing the whole block.

>>> from edge_agent.register_map import PointSpec
>>> pts = [PointSpec(name=n, register="input", address=a, type="float32")
...        for n, a in [("a", 0), ("b", 2), ("c", 10)]]
>>> [(b.register_type, b.start, b.count, [p.name for p in b.points]) for b in plan_reads(pts)]
[('input', 0, 4, ['a', 'b']), ('input', 10, 2, ['c'])]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from edge_agent.register_map import BIT_REGISTER_TYPES, PointSpec, RegisterType

__all__ = ["MAX_REGISTERS_PER_READ", "MAX_BITS_PER_READ", "ReadBlock", "plan_reads"]

#: Function codes 3 and 4 return at most 125 registers.
MAX_REGISTERS_PER_READ: Final = 125
#: Function codes 1 and 2 return at most 2000 coils or discrete inputs.
MAX_BITS_PER_READ: Final = 2000


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers (or bits) of one type from ``start``, and the points inside."""

    register_type: RegisterType
    start: int
    count: int
    points: tuple[PointSpec, ...]

    def registers_of(self, point: PointSpec, registers: list[int]) -> list[int]:
        """The slice of this block's response that holds ``point``."""
        first = point.address - self.start
        return registers[first : first + point.width]


def plan_reads(
    points: Iterable[PointSpec],
    max_registers: int = MAX_REGISTERS_PER_READ,
    max_gap: int = 0,
    max_bits: int = MAX_BITS_PER_READ,
) -> list[ReadBlock]:
    """Group points into read blocks, holding registers first, each type in address order.

    Order: holding, input, coil, discrete_input. ``max_gap`` is how many
    unmapped addresses a block may bridge (0: only contiguous or shared
    registers are merged). Coils and discrete inputs are limited by
    ``max_bits`` instead of ``max_registers``.
    """
    if not 1 <= max_registers <= MAX_REGISTERS_PER_READ:
        raise ValueError(f"max_registers must be 1..{MAX_REGISTERS_PER_READ}, got {max_registers}")
    if not 1 <= max_bits <= MAX_BITS_PER_READ:
        raise ValueError(f"max_bits must be 1..{MAX_BITS_PER_READ}, got {max_bits}")
    points = list(points)
    blocks: list[ReadBlock] = []
    register_types: tuple[RegisterType, ...] = ("holding", "input", "coil", "discrete_input")
    for register_type in register_types:
        limit = max_bits if register_type in BIT_REGISTER_TYPES else max_registers
        ordered = sorted(
            (p for p in points if p.register_type == register_type), key=lambda p: (p.address, p.end)
        )
        current: list[PointSpec] = []
        start = end = 0
        for point in ordered:
            joins = (
                current and point.address <= end + max_gap and max(end, point.end) - start <= limit
            )
            if joins:
                current.append(point)
                end = max(end, point.end)
                continue
            if current:
                blocks.append(ReadBlock(register_type, start, end - start, tuple(current)))
            current, start, end = [point], point.address, point.end
        if current:
            blocks.append(ReadBlock(register_type, start, end - start, tuple(current)))
    return blocks
