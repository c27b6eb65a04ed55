"""Seasonal normal by lagged comparison: each reading against the one a period earlier.

When it works: signals with a fixed cycle counted in readings (a daily load
curve sampled every 5 minutes: ``period=288``; hourly data: 24): the
difference to the same phase of the previous cycle removes the cycle, so an
anomaly that is normal in level but wrong for its time of day stands out
(traffic at night as heavy as at rush hour).

When it doesn't: irregular sampling or gaps (the lag is counted in readings,
not time; the detector sees only values), cycles that are not a whole
number of readings, and signals without a cycle, where the lagged
difference is just noisier than the value. It scores 0 for its first
``period + warmup`` readings, and an anomaly echoes one period later
(the lag then compares a normal reading to the anomalous one).

Model: ``r = x - x[t - period]``; an EWMA mean/variance of ``r`` (weight
``alpha``, learning clipped at ``clip_z``) gives ``z = |r - mean_r| / std_r``.
State: a ring of ``period`` floats. The band is
``x[t - period] + mean_r ± z_center·std_r``.
"""

from __future__ import annotations

import math

from stream_processor.detectors.registry import register
from stream_processor.detectors.tail import ZStat, ZStatDetector, check_shape

__all__ = ["SeasonalLag"]


@register("seasonal_lag")
class SeasonalLag(ZStatDetector):
    """EWMA z-score of the difference to the reading one period earlier.

    >>> det = SeasonalLag(period=4, warmup=8)
    >>> for i in range(200):
    ...     det.learn_one([0.0, 10.0, 20.0, 10.0][i % 4] + (0.1 if i % 3 else -0.1))
    >>> det.score_one(0.05) < 0.1, det.score_one(20.0) > 0.99
    (True, True)
    """

    def __init__(
        self,
        period: int = 288,
        alpha: float = 0.01,
        warmup: int = 30,
        clip_z: float = 3.0,
        z_center: float = 4.5,
        power: float = 4.0,
        min_std: float = 1e-6,
        min_rel_std: float = 1e-4,
    ) -> None:
        if period < 1 or not 0.0 < alpha < 1.0 or warmup < 2:
            raise ValueError(f"need period >= 1, 0 < alpha < 1, warmup >= 2; got {period}, {alpha}, {warmup}")
        if clip_z < 0.0 or min_std <= 0.0 or min_rel_std < 0.0:
            raise ValueError("need clip_z >= 0, min_std > 0, min_rel_std >= 0")
        check_shape(z_center, power)
        self.period = period
        self.alpha = alpha
        self.warmup = warmup
        self.clip_z = clip_z
        self.z_center = z_center
        self.power = power
        self.min_std = min_std
        self.min_rel_std = min_rel_std
        # Learned state.
        self.ring: list[float] = []
        self.head = 0
        self.n = 0  # lagged differences learned
        self.mean = 0.0
        self.var = 0.0

    def _std(self, base: float) -> float:
        return max(math.sqrt(self.var), self.min_std, self.min_rel_std * abs(base))

    def z_one(self, x: float) -> ZStat:
        if self.n < self.warmup:
            return None
        base = self.ring[self.head]
        std = self._std(base)
        return abs(x - base - self.mean) / std, base + self.mean, std

    def z_learn_one(self, x: float) -> ZStat:
        n = self.n
        if n < self.warmup or self.clip_z > 0.0:
            stat = self.z_one(x)
            self.learn_one(x)
            return stat
        # z_one and unclipped learn_one fused: the per-reading hot path of the ensemble.
        head = self.head
        ring = self.ring
        base = ring[head]
        mean = self.mean
        std = max(math.sqrt(self.var), self.min_std, self.min_rel_std * abs(base))
        d = x - base - mean
        a = max(self.alpha, 1.0 / (n + 1))
        self.mean = mean + a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.n = n + 1
        ring[head] = float(x)
        head += 1
        self.head = 0 if head == self.period else head
        return abs(d) / std, base + mean, std

    def learn_one(self, x: float) -> None:
        x = float(x)
        if len(self.ring) < self.period:
            self.ring.append(x)
            return
        base = self.ring[self.head]
        n = self.n
        d = x - base - self.mean
        if n >= self.warmup and self.clip_z > 0.0:
            reach = self.clip_z * self._std(base)
            d = min(max(d, -reach), reach)
        a = max(self.alpha, 1.0 / (n + 1))
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.n = n + 1
        self.ring[self.head] = x
        self.head = (self.head + 1) % self.period
