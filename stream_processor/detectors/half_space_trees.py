"""river's Half-Space Trees, wrapped into the detector protocol (an option, not a default).

When it works: as a density model of the value, it flags readings in
regions the recent window (``window_size`` readings) rarely visited,
whatever shape the distribution has (several operating levels, skew).

When it doesn't: it costs tens of µs per reading (far above the statistical
detectors), its feature range is fixed from the first ``warmup`` readings
(values beyond it all fall in the outermost cells), its scores move in
coarse steps, and it learns every value, anomalies included. Use it for a
few valuable points, not for every reading of the park.

The range is the min/max of the first ``warmup`` readings widened by
``margin`` of its width on both sides; river's score (1 minus the mass of
the value's cells, normalised) is already in ``[0, 1]``. The band is that
range.
"""

from __future__ import annotations

from typing import Any

from stream_processor.detectors.base import DetectorBase, Explanation
from stream_processor.detectors.registry import register

__all__ = ["RiverHalfSpaceTrees"]

_FEATURE = "x"


@register("river_hst")
class RiverHalfSpaceTrees(DetectorBase):
    """``river.anomaly.HalfSpaceTrees`` on one value, range fixed after warm-up.

    >>> det = RiverHalfSpaceTrees(warmup=20, window_size=50)
    >>> for i in range(300):
    ...     det.learn_one(10.0 + (i % 5) * 0.1)
    >>> det.score_one(10.2) < det.score_one(14.0)
    True
    """

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        warmup: int = 50,
        margin: float = 0.5,
        seed: int = 42,
    ) -> None:
        if n_trees < 1 or height < 1 or window_size < 1 or warmup < 2 or margin < 0.0:
            raise ValueError("need n_trees, height, window_size >= 1, warmup >= 2, margin >= 0")
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.warmup = warmup
        self.margin = margin
        self.seed = seed
        # Learned state: the warm-up values, then the range and the model.
        self.first: list[float] = []
        self.low = 0.0
        self.high = 0.0
        self.model: Any = None

    def learn_one(self, x: float) -> None:
        x = float(x)
        if self.model is None:
            self.first.append(x)
            if len(self.first) < self.warmup:
                return
            from river import anomaly  # imported on use: river.anomaly pulls in scipy

            lo, hi = min(self.first), max(self.first)
            pad = self.margin * (hi - lo) or max(abs(lo) * 1e-3, 1e-6)
            self.low, self.high = lo - pad, hi + pad
            self.model = anomaly.HalfSpaceTrees(
                n_trees=self.n_trees, height=self.height, window_size=self.window_size,
                limits={_FEATURE: (self.low, self.high)}, seed=self.seed,
            )
            for v in self.first:
                self.model.learn_one({_FEATURE: v})
            self.first = []
            return
        self.model.learn_one({_FEATURE: x})

    def explain_one(self, x: float) -> Explanation:
        if self.model is None:
            return Explanation(0.0, None, None)
        score = float(self.model.score_one({_FEATURE: float(x)}))
        return Explanation(min(1.0, max(0.0, score)), self.low, self.high)
