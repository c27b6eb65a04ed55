"""Registers to engineering values and back, per data type and byte order.

Shared by the Modbus drivers (decode) and the field simulator (encode, the
exact inverse), so the two cannot disagree about a byte order. See
:mod:`edge_agent.register_map` for what the byte-order letters mean.

>>> from edge_agent.register_map import PointSpec
>>> temp = PointSpec(name="t", register="input", address=0, type="float32", byte_order="CDAB")
>>> encode_point(temp, 21.5)
[0, 16812]
>>> decode_point(temp, [0, 16812])
21.5
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Final

from edge_agent.register_map import PointSpec

__all__ = ["registers_to_bytes", "bytes_to_registers", "decode_point", "encode_point"]

_STRUCT: Final = {
    "int16": struct.Struct(">h"),
    "uint16": struct.Struct(">H"),
    "int32": struct.Struct(">i"),
    "uint32": struct.Struct(">I"),
    "int64": struct.Struct(">q"),
    "uint64": struct.Struct(">Q"),
    "float32": struct.Struct(">f"),
    "float64": struct.Struct(">d"),
}
_INT_BOUNDS: Final = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
_FLOAT32_MAX: Final = 3.4028234663852886e38


def _reorder(words: Sequence[int], order: str) -> list[int]:
    """Swap words and/or bytes; the operation is its own inverse."""
    out = list(words)
    if order in ("CDAB", "DCBA"):
        out.reverse()
    if order in ("BADC", "DCBA"):
        out = [((w & 0xFF) << 8) | (w >> 8) for w in out]
    return out


def registers_to_bytes(registers: Sequence[int], order: str) -> bytes:
    """Big-endian bytes (``ABCD...``) of registers as a device with ``order`` sends them.

    >>> registers_to_bytes([0x2041, 0x0000], "BADC").hex()
    '41200000'
    """
    return b"".join(w.to_bytes(2, "big") for w in _reorder(registers, order))


def bytes_to_registers(data: bytes, order: str) -> list[int]:
    """Registers a device with ``order`` sends for big-endian ``data``; inverse of :func:`registers_to_bytes`.

    >>> [hex(w) for w in bytes_to_registers(bytes.fromhex("41200000"), "DCBA")]
    ['0x0', '0x2041']
    """
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return _reorder(words, order)


def decode_point(point: PointSpec, registers: Sequence[int]) -> float | None:
    """The engineering value of ``point`` from its ``point.width`` registers (or its one bit).

    ``None`` when the raw value is not a finite number (a float register
    holding NaN is how many devices say "no measurement").
    """
    if point.type == "bool":  # a coil or discrete input: the response holds bits, not words
        return 1.0 if registers[0] else 0.0
    if point.type == "bit":
        word = _reorder(registers[:1], point.byte_order)[0]
        return float((word >> (point.bit or 0)) & 1)
    raw = _STRUCT[point.type].unpack(registers_to_bytes(registers[: point.width], point.byte_order))[0]
    value = raw * point.scale + point.offset
    return float(value) if math.isfinite(value) else None


def encode_point(point: PointSpec, value: float) -> list[int]:
    """Registers holding ``value`` for ``point``; the inverse of :func:`decode_point`.

    Integer types round and saturate at the type's limits, as a transmitter
    saturates at the end of its range. A ``bit`` point gives its register
    with only that bit set (or none); callers OR bits sharing a register.
    """
    if point.type == "bool":
        return [1 if value >= 0.5 else 0]
    raw = (value - point.offset) / point.scale
    if point.type == "bit":
        word = (1 << (point.bit or 0)) if raw >= 0.5 else 0
        return _reorder([word], point.byte_order)
    if point.type in _INT_BOUNDS:
        low, high = _INT_BOUNDS[point.type]
        packed = _STRUCT[point.type].pack(min(max(round(raw), low), high))
    elif point.type == "float32":
        packed = _STRUCT[point.type].pack(min(max(raw, -_FLOAT32_MAX), _FLOAT32_MAX))
    else:
        packed = _STRUCT[point.type].pack(raw)
    return bytes_to_registers(packed, point.byte_order)
