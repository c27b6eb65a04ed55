"""Coalescing points into the fewest reads."""

from __future__ import annotations

import pytest

from edge_agent.drivers.modbus_common.read_plan import plan_reads
from edge_agent.register_map import PointSpec


def pt(name: str, address: int, type_: str = "uint16", register: str = "holding", **kw: object) -> PointSpec:
    return PointSpec.model_validate(
        {"name": name, "register": register, "address": address, "type": type_, **kw}
    )


def shape(points: list[PointSpec], **kw: int) -> list[tuple[str, int, int, list[str]]]:
    return [(b.register_type, b.start, b.count, [p.name for p in b.points]) for b in plan_reads(points, **kw)]


def test_contiguous_points_share_one_read_in_any_order() -> None:
    points = [pt("c", 3, "float32"), pt("a", 0), pt("b", 1, "float32")]
    assert shape(points) == [("holding", 0, 5, ["a", "b", "c"])]


def test_gap_splits_unless_allowed() -> None:
    points = [pt("a", 0), pt("b", 5)]
    assert shape(points) == [("holding", 0, 1, ["a"]), ("holding", 5, 1, ["b"])]
    assert shape(points, max_gap=4) == [("holding", 0, 6, ["a", "b"])]


def test_register_types_are_read_separately_holding_first() -> None:
    points = [pt("i", 0, register="input"), pt("h", 0)]
    assert shape(points) == [("holding", 0, 1, ["h"]), ("input", 0, 1, ["i"])]


def test_at_most_125_registers_and_points_never_split() -> None:
    points = [pt(f"p{i}", i * 2, "float32") for i in range(100)]  # 200 contiguous registers
    blocks = plan_reads(points)
    assert [b.count for b in blocks] == [124, 76]
    assert sum(len(b.points) for b in blocks) == 100
    assert shape(points[:3], max_registers=4) == [("holding", 0, 4, ["p0", "p1"]), ("holding", 4, 2, ["p2"])]


def test_bits_of_one_register_are_one_read() -> None:
    points = [pt("run", 7, "bit", bit=0), pt("fault", 7, "bit", bit=1), pt("speed", 8)]
    assert shape(points) == [("holding", 7, 2, ["run", "fault", "speed"])]


def test_limit_is_checked() -> None:
    with pytest.raises(ValueError, match="max_registers"):
        plan_reads([], max_registers=126)
