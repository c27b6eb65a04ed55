"""Level shift by a two-sided CUSUM of standardised readings.

When it works: a sustained step of the mean (a valve left open, a drifting
calibration, a load moved to another machine) that is too small per reading
for a z-score to notice: each reading past ``drift`` deviations adds to the
sum, so a one-deviation step is caught within a few dozen readings and a
three-deviation step within a handful.

When it doesn't: periodic signals (every rising half-period looks like a
shift) and heavy-tailed ones, where single spikes add up; the per-reading
increment is capped at ``clip_z`` so one spike can add at most
``clip_z - drift``.

Model: a baseline mean/variance by EWMA (weight ``alpha``, clipped learning as
in ``ewma_zscore``); ``z_t = (x_t - mean)/std``,
``up = max(0, up + min(z, clip_z) - drift)``, ``down`` likewise for ``-z``;
each sum is capped at ``max_sum`` (so a lasting shift plateaus instead of
growing without bound, and a later, larger anomaly can still stand out);
the statistic is ``max(up, down)`` after adding ``x``, scored with the shared
log-logistic (0.5 at ``z_center``, CUSUM's decision threshold ``h``). The
band is the baseline ``mean ± z_center·std``.
"""

from __future__ import annotations

import math

from stream_processor.detectors.registry import register
from stream_processor.detectors.tail import ZStat, ZStatDetector, check_shape

__all__ = ["CUSUMLevelShift"]


@register("level_shift")
class CUSUMLevelShift(ZStatDetector):
    """Two-sided CUSUM against an EWMA baseline.

    >>> det = CUSUMLevelShift(warmup=20)
    >>> for i in range(100):
    ...     det.learn_one(10.0 + (0.5 if i % 2 else -0.5))
    >>> scores = [det.explain_learn_one(11.5).score for _ in range(8)]
    >>> scores[0] < 0.1 < 0.9 < scores[-1]
    True
    """

    def __init__(
        self,
        alpha: float = 0.01,
        warmup: int = 30,
        drift: float = 0.5,
        clip_z: float = 3.0,
        z_center: float = 8.0,
        max_sum: float = 16.0,
        power: float = 4.0,
        min_std: float = 1e-6,
        min_rel_std: float = 1e-3,
    ) -> None:
        if not 0.0 < alpha < 1.0 or warmup < 2:
            raise ValueError(f"need 0 < alpha < 1 and warmup >= 2, got {alpha}, {warmup}")
        if drift < 0.0 or clip_z <= drift or min_std <= 0.0 or min_rel_std < 0.0:
            raise ValueError("need drift >= 0, clip_z > drift, min_std > 0, min_rel_std >= 0")
        check_shape(z_center, power)
        if max_sum <= 0.0:
            raise ValueError(f"max_sum must be positive, got {max_sum}")
        self.alpha = alpha
        self.warmup = warmup
        self.drift = drift
        self.clip_z = clip_z
        self.z_center = z_center
        self.max_sum = max_sum
        self.power = power
        self.min_std = min_std
        self.min_rel_std = min_rel_std
        # Learned state.
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.up = 0.0
        self.down = 0.0

    def _std(self) -> float:
        return max(math.sqrt(self.var), self.min_std, self.min_rel_std * abs(self.mean))

    def _sums(self, x: float, std: float) -> tuple[float, float]:
        z = (x - self.mean) / std
        c = self.clip_z
        z = c if z > c else (-c if z < -c else z)
        top = self.max_sum
        return (min(top, max(0.0, self.up + z - self.drift)),
                min(top, max(0.0, self.down - z - self.drift)))

    def z_one(self, x: float) -> ZStat:
        if self.n < self.warmup:
            return None
        std = self._std()
        up, down = self._sums(x, std)
        return max(up, down), self.mean, std

    def learn_one(self, x: float) -> None:
        x = float(x)
        n = self.n
        if n == 0:
            self.n, self.mean, self.var = 1, x, 0.0
            return
        std = self._std()
        if n >= self.warmup:
            self.up, self.down = self._sums(x, std)
        a = max(self.alpha, 1.0 / (n + 1))
        d = x - self.mean
        if n >= self.warmup:
            reach = self.clip_z * std
            d = min(max(d, -reach), reach)
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.n = n + 1
