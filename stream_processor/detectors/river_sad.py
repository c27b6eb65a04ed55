"""river's Standard Absolute Deviation, wrapped into the detector protocol.

When it works: stationary signals, as a simple baseline to compare the EWMA
detector against (``sub_stat="median"`` centres on a running median, which a
burst of spikes cannot drag away).

When it doesn't: its variance covers the whole history and never forgets, so
after a level shift or slow drift it stays either deaf or noisy; and it learns
every value, anomalies included. Prefer ``ewma_zscore`` in production.

river's raw score is ``|x - centre| / std``; it is mapped to ``[0, 1]`` with
the same logistic as ``ewma_zscore`` so one alert threshold fits both.
"""

from __future__ import annotations

import math
from typing import Literal

from stream_processor.detectors.base import DetectorBase, Explanation
from stream_processor.detectors.registry import register

__all__ = ["RiverStandardAbsoluteDeviation"]


@register("river_sad")
class RiverStandardAbsoluteDeviation(DetectorBase):
    """``river.anomaly.StandardAbsoluteDeviation`` behind the parkwatch protocol.

    >>> det = RiverStandardAbsoluteDeviation(warmup=5)
    >>> det.score_one(1.0)
    0.0
    >>> for x in [9.0, 11.0, 10.0, 9.5, 10.5, 10.0]:
    ...     det.learn_one(x)
    >>> det.score_one(10.2) < 0.01, det.score_one(30.0) > 0.99
    (True, True)
    """

    def __init__(
        self,
        sub_stat: Literal["mean", "median"] = "median",
        warmup: int = 20,
        z_center: float = 4.5,
        z_scale: float = 0.5,
    ) -> None:
        if sub_stat not in ("mean", "median"):
            raise ValueError(f"sub_stat must be 'mean' or 'median', got {sub_stat!r}")
        if warmup < 2 or z_center <= 0.0 or z_scale <= 0.0:
            raise ValueError("warmup must be >= 2, z_center and z_scale positive")
        self.sub_stat = sub_stat
        self.warmup = warmup
        self.z_center = z_center
        self.z_scale = z_scale
        from river import anomaly, stats  # imported on use: river.anomaly pulls in scipy (~1.5 s)

        # Learned state.
        self.n = 0
        self.model = anomaly.StandardAbsoluteDeviation(
            sub_stat=stats.Mean() if sub_stat == "mean" else stats.Quantile(0.5)
        )

    def learn_one(self, x: float) -> None:
        self.model.learn_one(None, float(x))
        self.n += 1

    def explain_one(self, x: float) -> Explanation:
        if self.n < self.warmup:
            return Explanation(0.0, None, None)
        z = float(self.model.score_one(None, float(x)) or 0.0)
        score = 1.0 / (1.0 + math.exp(min(700.0, (self.z_center - z) / self.z_scale)))
        centre = float(self.model.sub_stat.get() or 0.0)
        half = self.z_center * (math.sqrt(max(self.model.variance.get(), 0.0)) + 1e-10)
        return Explanation(score, centre - half, centre + half)
