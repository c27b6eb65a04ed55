"""Simulated signals: plausible per kind, inside the range, identical for the same seed."""

from __future__ import annotations

import random
import statistics

from edge_agent.register_map import SignalHint
from field_sim.signals import PointSignal


def series(hint: SignalHint, seed: str = "s", n: int = 600, day_length_s: float = 600.0) -> list[float]:
    signal = PointSignal(hint, random.Random(seed), day_length_s)
    return [signal.value(float(t)) for t in range(n)]


def test_same_seed_same_values_other_seed_other_values() -> None:
    hint = SignalHint(kind="temperature", nominal=85, noise=0.3, cycle=4, range=(-50, 600))
    assert series(hint) == series(hint)
    assert series(hint) != series(hint, seed="other")


def test_process_value_cycles_around_nominal_with_noise() -> None:
    values = series(SignalHint(kind="temperature", nominal=85, noise=0.3, cycle=4, range=(-50, 600)))
    assert 80 < min(values) < 83 and 87 < max(values) < 90  # one full "day" of a 4-degree swing
    assert abs(statistics.fmean(values) - 85) < 1
    steps = [abs(b - a) for a, b in zip(values, values[1:], strict=False)]
    assert max(steps) < 1.5  # correlated noise wanders, it does not jump


def test_gas_stays_near_zero_and_never_negative() -> None:
    values = series(SignalHint(kind="gas", nominal=0.5, noise=0.3, range=(0, 100)))
    assert min(values) >= 0 and max(values) < 2.5
    assert values.count(0.0) < len(values) / 2


def test_oxygen_near_20_9_and_counter_grows() -> None:
    o2 = series(SignalHint(kind="oxygen", nominal=20.9, noise=0.05, range=(0, 25)))
    assert all(20.6 < v < 21.2 for v in o2)
    energy = series(SignalHint(kind="counter", nominal=1000, rate_per_h=36, range=(0, 1e9)), n=101)
    assert energy[0] == 1000 and energy[100] == 1001
    assert energy == sorted(energy)


def test_without_hint_a_point_reads_zero() -> None:
    assert PointSignal(None, random.Random(1)).value(5.0) == 0.0
