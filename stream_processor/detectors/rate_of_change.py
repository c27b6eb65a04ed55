"""Rate of change: the step from the previous reading against the usual steps.

When it works: jumps and drops that stay inside the signal's normal range
(a level z-score is blind to them) and sensors that start to chatter; also
signals with a slow trend or daily cycle, whose steps stay small while the
level itself moves a lot.

When it doesn't: white-noise signals, where a step is just the difference of
two independent readings and carries no more than the level does; and slow
ramps, which never make a large step (use ``level_shift``).

Model: ``d = x - previous``; an EWMA mean/variance of ``d`` (weight
``alpha``, learning clipped at ``clip_z`` deviations) gives
``z = |d - mean_d| / std_d``. The band is ``previous + mean_d ± z_center·std_d``.
"""

from __future__ import annotations

import math

from stream_processor.detectors.registry import register
from stream_processor.detectors.tail import ZStat, ZStatDetector, check_shape

__all__ = ["RateOfChange"]


@register("rate_of_change")
class RateOfChange(ZStatDetector):
    """EWMA z-score of the first difference.

    >>> det = RateOfChange(warmup=10)
    >>> for i in range(100):
    ...     det.learn_one(0.1 * i + (0.05 if i % 2 else -0.05))
    >>> det.score_one(10.05) < 0.1, det.score_one(12.0) > 0.99
    (True, True)
    """

    def __init__(
        self,
        alpha: float = 0.01,
        warmup: int = 30,
        clip_z: float = 3.0,
        z_center: float = 4.5,
        power: float = 4.0,
        min_std: float = 1e-6,
        min_rel_std: float = 1e-4,
    ) -> None:
        if not 0.0 < alpha < 1.0 or warmup < 3:
            raise ValueError(f"need 0 < alpha < 1 and warmup >= 3, got {alpha}, {warmup}")
        if clip_z < 0.0 or min_std <= 0.0 or min_rel_std < 0.0:
            raise ValueError("need clip_z >= 0, min_std > 0, min_rel_std >= 0")
        check_shape(z_center, power)
        self.alpha = alpha
        self.warmup = warmup
        self.clip_z = clip_z
        self.z_center = z_center
        self.power = power
        self.min_std = min_std
        self.min_rel_std = min_rel_std
        # Learned state.
        self.n = 0
        self.last = 0.0
        self.mean = 0.0  # of the steps
        self.var = 0.0

    def _std(self) -> float:
        return max(math.sqrt(self.var), self.min_std, self.min_rel_std * abs(self.last))

    def z_one(self, x: float) -> ZStat:
        if self.n < self.warmup:
            return None
        std = self._std()
        return abs(x - self.last - self.mean) / std, self.last + self.mean, std

    def z_learn_one(self, x: float) -> ZStat:
        n = self.n
        if n < self.warmup or self.clip_z > 0.0:
            stat = self.z_one(x)
            self.learn_one(x)
            return stat
        # z_one and unclipped learn_one fused: the per-reading hot path of the ensemble.
        last = self.last
        mean = self.mean
        std = max(math.sqrt(self.var), self.min_std, self.min_rel_std * abs(last))
        d = x - last - mean
        a = max(self.alpha, 1.0 / n)
        self.mean = mean + a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.last = float(x)
        self.n = n + 1
        return abs(d) / std, last + mean, std

    def learn_one(self, x: float) -> None:
        x = float(x)
        n = self.n
        if n >= 1:
            d = x - self.last - self.mean
            if n >= self.warmup and self.clip_z > 0.0:
                reach = self.clip_z * self._std()
                d = min(max(d, -reach), reach)
            a = max(self.alpha, 1.0 / n)  # n - 1 steps were learned before this one
            self.mean += a * d
            self.var = (1.0 - a) * (self.var + a * d * d)
        self.last = x
        self.n = n + 1
