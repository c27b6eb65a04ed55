"""Window aggregates: tumbling windows by event time, closed by later readings, the timer or shutdown."""

from __future__ import annotations

import pytest

from edge_agent.preprocess import AggregateConfig, build_steps, flush_steps
from edge_agent.preprocess.aggregate import WindowAggregate
from parkwatch.wire.frames import Reading


def step(**kw: object) -> WindowAggregate:
    return WindowAggregate(AggregateConfig.model_validate({"step": "aggregate", "window": "10s", **kw}))


def test_windows_close_on_the_next_window_and_raw_readings_go() -> None:
    agg = step(emit=["min", "max", "mean", "count", "last"], points=["p"])
    out = agg.apply("d", [Reading("p", 1_000, 4.0, "good"), Reading("q", 1_000, 9.0, "good")])
    assert out == [Reading("q", 1_000, 9.0, "good")]  # unselected points pass unchanged
    assert agg.apply("d", [Reading("p", 5_000, 2.0, "good"), Reading("p", 9_999, 6.0, "good")]) == []
    closed = agg.apply("d", [Reading("p", 10_000, 1.0, "good")])
    assert [(r.point, r.ts_ms, r.value, r.quality) for r in closed] == [
        ("p_min", 0, 2.0, "good"), ("p_max", 0, 6.0, "good"), ("p_mean", 0, 4.0, "good"),
        ("p_count", 0, 3.0, "good"), ("p_last", 0, 6.0, "good"),
    ]  # fmt: skip


def test_a_window_without_good_readings_carries_their_quality() -> None:
    agg = step(emit=["mean", "count"])
    agg.apply("d", [Reading("p", 0, None, "comm_loss"), Reading("p", 5_000, None, "comm_loss")])
    (device, closed), = agg.flush(None)  # fmt: skip
    assert device == "d"
    assert [(r.point, r.value, r.quality) for r in closed] == [
        ("p_mean", None, "comm_loss"),
        ("p_count", 0.0, "good"),
    ]


def test_the_timer_closes_windows_after_grace_and_late_readings_are_dropped() -> None:
    agg = step(emit=["max"], grace="2s")
    agg.apply("d", [Reading("p", 3_000, 1.0, "good")])
    assert agg.flush(11_999) == []
    assert [(d, [r.value for r in rs]) for d, rs in agg.flush(12_000)] == [("d", [1.0])]
    assert agg.apply("d", [Reading("p", 9_000, 5.0, "good")]) == [] and agg.late == 1
    assert agg.flush(None) == []


def test_raw_keep_and_steps_after_the_aggregate_see_the_flushed_readings() -> None:
    configs = [
        AggregateConfig.model_validate(
            {"step": "aggregate", "window": "1s", "emit": ["mean"], "raw": "keep"}
        ),
    ]
    steps = build_steps([*configs])
    kept = steps[0].apply("d", [Reading("p", 100, 1.0, "good"), Reading("p", 600, 3.0, "good")])
    assert [r.point for r in kept] == ["p", "p"]
    assert [(d, [(r.point, r.value) for r in rs]) for d, rs in flush_steps(steps, None)] == [
        ("d", [("p_mean", 2.0)])
    ]


def test_bad_configs() -> None:
    with pytest.raises(ValueError, match="each statistic at most once"):
        step(emit=["min", "min"])
    with pytest.raises(ValueError, match="greater than zero"):
        step(emit=["min"], window="0s")
