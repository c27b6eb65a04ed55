"""Register codec: known byte patterns per data type and order, round trips, saturation."""

from __future__ import annotations

import math
import struct

import pytest

from edge_agent.drivers.modbus_common.decode import decode_point, encode_point
from edge_agent.register_map import REGISTER_WIDTH, PointSpec

ORDERS = ["ABCD", "CDAB", "BADC", "DCBA"]


def point(type_: str, order: str = "ABCD", **kw: object) -> PointSpec:
    return PointSpec.model_validate(
        {"name": "p", "register": "holding", "address": 0, "type": type_, "byte_order": order, **kw}
    )


# 10.0 as float32 is 0x41200000: bytes A=41 B=20 C=00 D=00.
@pytest.mark.parametrize(
    ("order", "registers"),
    [
        ("ABCD", [0x4120, 0x0000]),
        ("CDAB", [0x0000, 0x4120]),
        ("BADC", [0x2041, 0x0000]),
        ("DCBA", [0x0000, 0x2041]),
    ],
)
def test_float32_in_each_byte_order(order: str, registers: list[int]) -> None:
    assert decode_point(point("float32", order), registers) == 10.0
    assert encode_point(point("float32", order), 10.0) == registers


# 0x01020304 as int32.
@pytest.mark.parametrize(
    ("order", "registers"),
    [
        ("ABCD", [0x0102, 0x0304]),
        ("CDAB", [0x0304, 0x0102]),
        ("BADC", [0x0201, 0x0403]),
        ("DCBA", [0x0403, 0x0201]),
    ],
)
def test_int32_in_each_byte_order(order: str, registers: list[int]) -> None:
    assert decode_point(point("int32", order), registers) == 0x01020304


def test_float64_word_swapped() -> None:
    words = [int.from_bytes(struct.pack(">d", 125000.5)[i : i + 2], "big") for i in range(0, 8, 2)]
    assert decode_point(point("float64", "CDAB"), list(reversed(words))) == 125000.5


def test_signed_16_bit_and_scale_offset() -> None:
    assert decode_point(point("int16", scale=0.1), [0xFFF6]) == pytest.approx(-1.0)
    assert decode_point(point("uint16", scale=0.1, offset=-50), [0xFFF6]) == pytest.approx(6502.6)
    assert decode_point(point("int16", "BADC"), [0x0100]) == 1


def test_bits_of_a_status_word() -> None:
    assert decode_point(point("bit", bit=0), [0b101]) == 1.0
    assert decode_point(point("bit", bit=1), [0b101]) == 0.0
    assert decode_point(point("bit", bit=15), [0x8000]) == 1.0
    assert encode_point(point("bit", bit=3), 1.0) == [0b1000]
    assert encode_point(point("bit", bit=3), 0.0) == [0]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    "type_", ["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
)
def test_round_trip(type_: str, order: str) -> None:
    spec = point(type_, order, scale=0.01, offset=-5.0)
    for value in (0.0, 12.34, 255.5, 300.0):  # all fit int16 at this scale
        registers = encode_point(spec, value)
        assert len(registers) == REGISTER_WIDTH[type_]
        assert all(0 <= r <= 0xFFFF for r in registers)
        decoded = decode_point(spec, registers)
        assert decoded is not None
        assert decoded == pytest.approx(value, abs=0.006, rel=1e-6)


def test_integers_saturate_like_a_transmitter() -> None:
    assert decode_point(point("uint16"), encode_point(point("uint16"), -3.0)) == 0
    assert decode_point(point("uint16"), encode_point(point("uint16"), 1e9)) == 65535
    assert decode_point(point("int16"), encode_point(point("int16"), -1e9)) == -32768


def test_nan_register_is_no_value() -> None:
    nan_words = [0x7FC0, 0x0000]
    assert decode_point(point("float32"), nan_words) is None
    assert math.isnan(struct.unpack(">f", bytes.fromhex("7fc00000"))[0])
