"""Long-memory EWMA z-score of the level, as a part for the ensemble.

When it works: as the "how unusual is this value for this point at all"
part of :mod:`~stream_processor.detectors.ensemble`. With a small ``alpha``
(a memory of about ``1/alpha`` readings) and no clipping, its variance keeps
the signal's own heavy tails, so a point that spikes routinely is judged
against its routine spikes, and scores of different points are comparable:
what NAB-style ranking across many series needs.

When it doesn't: alone, on periodic or trending signals (the whole cycle
counts as normal spread, so a change of shape inside it goes unseen), and
after a lasting level shift, which it adopts only over ``1/alpha`` readings.
``ewma_zscore`` is the short-memory, clipped variant for single points.

Model: ``z = |x - mean| / std`` with EWMA mean and variance (weight
``max(alpha, 1/n)``); ``clip_z > 0`` clips what is learned at ``clip_z``
deviations. The band is ``mean ± z_center·std``.
"""

from __future__ import annotations

import math

from stream_processor.detectors.registry import register
from stream_processor.detectors.tail import ZStat, ZStatDetector, check_shape

__all__ = ["EWMALevel"]


@register("ewma_level")
class EWMALevel(ZStatDetector):
    """EWMA z-score of the value with a long memory, unclipped by default.

    >>> det = EWMALevel(warmup=10)
    >>> for i in range(200):
    ...     det.learn_one(5.0 + (1.0 if i % 2 else -1.0))
    >>> det.score_one(5.5) < 0.01, det.score_one(20.0) > 0.99
    (True, True)
    """

    def __init__(
        self,
        alpha: float = 0.001,
        warmup: int = 30,
        clip_z: float = 0.0,
        z_center: float = 4.5,
        power: float = 4.0,
        min_std: float = 1e-6,
        min_rel_std: float = 1e-4,
    ) -> None:
        if not 0.0 < alpha < 1.0 or warmup < 2:
            raise ValueError(f"need 0 < alpha < 1 and warmup >= 2, got {alpha}, {warmup}")
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
        self.mean = 0.0
        self.var = 0.0

    def _std(self) -> float:
        return max(math.sqrt(self.var), self.min_std, self.min_rel_std * abs(self.mean))

    def z_one(self, x: float) -> ZStat:
        if self.n < self.warmup:
            return None
        std = self._std()
        return abs(x - self.mean) / std, self.mean, std

    def z_learn_one(self, x: float) -> ZStat:
        n = self.n
        if n < self.warmup or self.clip_z > 0.0:
            stat = self.z_one(x)
            self.learn_one(x)
            return stat
        # z_one and unclipped learn_one fused: the per-reading hot path of the ensemble.
        mean = self.mean
        var = self.var
        std = max(math.sqrt(var), self.min_std, self.min_rel_std * abs(mean))
        d = x - mean
        a = max(self.alpha, 1.0 / (n + 1))
        self.mean = mean + a * d
        self.var = (1.0 - a) * (var + a * d * d)
        self.n = n + 1
        return abs(d) / std, mean, std

    def learn_one(self, x: float) -> None:
        x = float(x)
        n = self.n
        d = x - self.mean if n else 0.0
        if n >= self.warmup and self.clip_z > 0.0:
            reach = self.clip_z * self._std()
            d = min(max(d, -reach), reach)
        a = max(self.alpha, 1.0 / (n + 1))
        self.mean = x if n == 0 else self.mean + a * d
        self.var = 0.0 if n == 0 else (1.0 - a) * (self.var + a * d * d)
        self.n = n + 1
