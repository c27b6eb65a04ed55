"""Anomaly specs, defaults that a 1 Hz poller can see, and how each kind changes a value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from field_sim.anomalies import Anomaly, ScheduledAnomaly, TruthLog, parse_inject, schedule
from parkwatch.errors import ConfigError


def test_parse_full_and_minimal_specs() -> None:
    assert parse_inject("drift:north-gw1/pt-01:temperature:at=1m:duration=30s:magnitude=-12.5") == Anomaly(
        "drift", "north-gw1/pt-01", "temperature", 60.0, 30.0, -12.5
    )
    assert parse_inject("stuck:gas-01:ch4") == Anomaly("stuck", "gas-01", "ch4")
    assert parse_inject("spike:gas-01:ch4:at=0").at_s == 0.0
    assert parse_inject("spike:gas-01:ch4:at=500ms:duration=2").duration_s == 2.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("spike:gas-01", "expected KIND:DEVICE:POINT"),
        ("burst:gas-01:ch4", "unknown kind 'burst'; known: spike, level_shift, drift, stuck"),
        ("spike:gas-01:ch4:at=soon", "option 'at=soon'"),
        ("spike:gas-01:ch4:duration=0s", "must be greater than zero"),
        ("spike:gas-01:ch4:magnitude=big", "option 'magnitude=big'"),
        ("spike:gas-01:ch4:size=3", "known options: at, duration, magnitude"),
        ("stuck:gas-01:ch4:magnitude=3", "stuck takes no magnitude"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_inject(spec)


def sched(anomaly: Anomaly, span: float | None = 100.0, poll_interval_s: float = 1.0) -> ScheduledAnomaly:
    return schedule(
        anomaly, site="s", gateway="g", now_s=10.0, tick_s=0.5, poll_interval_s=poll_interval_s, span=span
    )


def test_spike_defaults_are_visible_to_the_poller() -> None:
    spike = sched(Anomaly("spike", "gas-01", "ch4", at_s=20.0), poll_interval_s=2.0)
    assert (spike.start_s, spike.end_s, spike.magnitude) == (20.0, 26.0, 40.0)  # 3 polls long, +40 % of range
    assert spike.end_s - spike.start_s >= 2 * 2.0
    assert spike.apply(0.5, 21.0) == 40.5
    assert sched(Anomaly("spike", "d", "p")).start_s == 10.0  # no "at": now


def test_level_shift_drift_and_stuck() -> None:
    shift = sched(Anomaly("level_shift", "d", "p", at_s=0.0, magnitude=-5.0))
    assert shift.apply(20.0, 30.0) == 15.0 and shift.end_s == 60.0
    drift = sched(Anomaly("drift", "d", "p", at_s=0.0, duration_s=100.0))
    assert drift.magnitude == 20.0 and drift.apply(1.0, 50.0) == 11.0
    stuck = sched(Anomaly("stuck", "d", "p", at_s=0.0))
    assert [stuck.apply(v, t) for t, v in [(0.0, 3.0), (1.0, 4.0), (2.0, 5.0)]] == [3.0, 3.0, 3.0]
    assert stuck.magnitude is None and stuck.active(29.9) and not stuck.active(30.0)


def test_default_magnitude_needs_a_range() -> None:
    with pytest.raises(ConfigError, match="give magnitude="):
        sched(Anomaly("spike", "d", "p"), span=None)


def test_truth_log_lines(tmp_path: Path) -> None:
    log = TruthLog(tmp_path / "truth.jsonl")
    entry = log.record(sched(Anomaly("spike", "gas-01", "ch4", at_s=20.0)), start_ms=1_764_189_600_000)
    log.close()
    line = json.loads((tmp_path / "truth.jsonl").read_text())
    assert line == entry == {
        "kind": "spike", "site": "s", "gateway": "g", "device": "gas-01", "point": "ch4",
        "start_ms": 1_764_189_600_000, "end_ms": 1_764_189_603_000, "magnitude": 40.0,
    }  # fmt: skip
