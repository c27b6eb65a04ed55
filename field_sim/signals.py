"""Plausible process values for one simulated point, tick by tick.

A value is the point's nominal level, plus a slow sinusoidal "daily" swing
(period ``day_length_s``, a random phase per point), plus correlated noise
(an AR(1) process, so consecutive samples wander rather than jump). Kinds
shape this:

- ``gas``: sits near zero; negative readings are clamped to the range floor
  as real detectors do, so most samples are small positives or zero.
- ``oxygen``: 20.9 %vol with tiny noise.
- ``counter``: grows by ``rate_per_h`` (energy, totalised volume), no noise.
- ``state``: a constant 0/1 (fault bits, run status).
- everything else (temperature, pressure, flow, ...): cycle + noise,
  clamped to the instrument range.

Given the same seed and the same sequence of ticks, the values are
identical: the generator never looks at the wall clock.

>>> import random
>>> from edge_agent.register_map import SignalHint
>>> o2 = PointSignal(SignalHint(kind="oxygen", nominal=20.9, noise=0.05, range=(0, 25)), random.Random(1))
>>> [round(o2.value(t), 2) for t in (0.0, 1.0, 2.0)]
[20.9, 20.9, 20.93]
"""

from __future__ import annotations

import math
import random
from typing import Final

from edge_agent.register_map import SignalHint

__all__ = ["PointSignal", "DEFAULT_DAY_LENGTH_S"]

DEFAULT_DAY_LENGTH_S: Final = 86_400.0
#: Correlation of consecutive noise samples (per tick).
_AR_COEFFICIENT: Final = 0.8


class PointSignal:
    """The undisturbed value of one point as a function of simulation time."""

    def __init__(
        self, hint: SignalHint | None, rng: random.Random, day_length_s: float = DEFAULT_DAY_LENGTH_S
    ):
        self.hint = hint
        self.day_length_s = day_length_s
        self._rng = rng
        self._phase = rng.random() * 2 * math.pi
        # Start in the noise's stationary distribution, not at exactly nominal.
        self._noise = rng.gauss(0.0, hint.noise) if hint is not None else 0.0

    @property
    def span(self) -> float | None:
        """Width of the instrument range, which sizes default anomalies; ``None`` without a hint."""
        return None if self.hint is None else self.hint.range[1] - self.hint.range[0]

    def value(self, t_s: float) -> float:
        """The value at ``t_s`` seconds of simulation time; call once per tick, in order."""
        hint = self.hint
        if hint is None:
            return 0.0
        if hint.kind == "state":
            return hint.nominal
        if hint.kind == "counter":
            return hint.nominal + hint.rate_per_h * t_s / 3600.0
        phi = _AR_COEFFICIENT
        self._noise = phi * self._noise + math.sqrt(1 - phi * phi) * self._rng.gauss(0.0, hint.noise)
        cycle = hint.cycle * math.sin(2 * math.pi * t_s / self.day_length_s + self._phase)
        low, high = hint.range
        return min(max(hint.nominal + cycle + self._noise, low), high)
