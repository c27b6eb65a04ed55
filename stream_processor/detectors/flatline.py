"""Stuck or flatline sensor: no change for longer than the signal's change rate makes likely.

When it works: a sensor that normally varies from reading to reading (any
analogue signal with noise) freezes on one value: a stale register, a dead
transmitter repeating its last value, a gateway filling gaps. The longer the
run of equal readings, the less likely it is for this signal, and the score
grows with it.

When it doesn't: signals that legitimately hold a value for long stretches
(set-points, on/off states, counters at rest); for them the learned change
rate is low and the detector stays quiet, so it is safe but useless there.
Quantised signals need ``tolerance`` at least half a quantisation step only if
they flicker by one step while stuck.

Model: ``p`` = EWMA (weight ``alpha``) of "the reading differs from the
previous one by more than ``tolerance``", learned only outside runs of
``min_run`` or more equal readings (so a stuck sensor does not teach the model
that being stuck is normal). After ``run`` equal readings, the chance of
that under the learned rate is ``(1 - p)**run``; its surprise
``-run·log(1 - p)`` (in nats) becomes ``z = sqrt(2·surprise)``, the
z-score of a Gaussian tail that rare. Runs shorter than ``min_run`` score 0.
The band is ``previous ± z_center·mean |step|``.
"""

from __future__ import annotations

import math

from stream_processor.detectors.registry import register
from stream_processor.detectors.tail import ZStat, ZStatDetector, check_shape

__all__ = ["FlatlineSensor"]

#: Cap of the learned change rate: no signal is trusted to change at more than 99% of readings.
_MAX_P = 0.99


@register("flatline")
class FlatlineSensor(ZStatDetector):
    """Scores runs of unchanged readings by how unlikely they are for this signal.

    >>> det = FlatlineSensor(warmup=10)
    >>> for i in range(100):
    ...     det.learn_one(float(i % 7))
    >>> scores = [det.explain_learn_one(3.0).score for _ in range(12)]
    >>> scores[2] == 0.0 < scores[3] < scores[6] < 0.9 < scores[-1]
    True
    """

    def __init__(
        self,
        alpha: float = 0.01,
        warmup: int = 30,
        min_run: int = 3,
        tolerance: float = 0.0,
        z_center: float = 4.5,
        power: float = 4.0,
    ) -> None:
        if not 0.0 < alpha < 1.0 or warmup < 2 or min_run < 1 or tolerance < 0.0:
            raise ValueError("need 0 < alpha < 1, warmup >= 2, min_run >= 1, tolerance >= 0")
        check_shape(z_center, power)
        self.alpha = alpha
        self.warmup = warmup
        self.min_run = min_run
        self.tolerance = tolerance
        self.z_center = z_center
        self.power = power
        # Learned state.
        self.n = 0
        self.last = 0.0
        self.run = 0  # readings equal to `last` after it
        self.p_change = 0.0
        self.step = 0.0  # EWMA of |step|

    def _run_after(self, x: float) -> int:
        return self.run + 1 if self.n and abs(x - self.last) <= self.tolerance else 0

    def z_one(self, x: float) -> ZStat:
        if self.n < self.warmup:
            return None
        run = self._run_after(x)
        z = 0.0
        if run >= self.min_run:
            z = math.sqrt(-2.0 * run * math.log1p(-min(self.p_change, _MAX_P)))
        return z, self.last, self.step

    def learn_one(self, x: float) -> None:
        x = float(x)
        n = self.n
        run = self._run_after(x)
        if n >= 1 and run < self.min_run:
            a = max(self.alpha, 1.0 / n)
            changed = 0.0 if run else 1.0
            self.p_change += a * (changed - self.p_change)
            self.step += a * (abs(x - self.last) - self.step)
        self.run = run
        self.last = x
        self.n = n + 1
