"""Windowed median/MAD z-score: a robust level-and-spread model of the last readings.

When it works: signals with outliers in their own history (CPU load, traffic,
network counters), where a mean/variance model is dragged by every spike. The
median and MAD of the last ``window`` readings ignore up to half of them being
anomalous, so a burst of spikes neither moves the centre nor inflates the
scale; a level shift is adopted once it fills half the window.

When it doesn't: periodic signals whose period is shorter than the window
(every peak looks like an outlier; use ``seasonal_lag``), and signals that sit
on one value most of the time (the MAD is 0 and the floor ``min_scale`` /
``min_rel_scale`` alone sets the scale, so any change scores high).

Model: ``z = |x - median| / (1.4826·MAD)``. The MAD is the median of the
residuals ``|x_t - median_t|`` of the window's readings, each taken against
the median when it arrived (a running approximation that costs O(log window)
instead of a sort per reading). State: two sorted lists and two rings of at
most ``window`` floats each.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from stream_processor.detectors.registry import register
from stream_processor.detectors.tail import ZStat, ZStatDetector, check_shape

__all__ = ["MedianMADZScore"]

_MAD_TO_STD = 1.4826


def _median(sorted_values: list[float]) -> float:
    n = len(sorted_values)
    mid = n // 2
    return sorted_values[mid] if n % 2 else 0.5 * (sorted_values[mid - 1] + sorted_values[mid])


@register("median_mad")
class MedianMADZScore(ZStatDetector):
    """Robust z-score against the median and MAD of the last ``window`` readings.

    >>> det = MedianMADZScore(window=50, warmup=10)
    >>> for i in range(60):
    ...     det.learn_one(20.0 + (0.5 if i % 2 else -0.5))
    >>> det.score_one(20.3) < 0.1, det.score_one(35.0) > 0.99
    (True, True)
    """

    def __init__(
        self,
        window: int = 128,
        warmup: int = 16,
        z_center: float = 4.5,
        power: float = 4.0,
        min_scale: float = 1e-6,
        min_rel_scale: float = 1e-3,
    ) -> None:
        if window < 3 or not 2 <= warmup <= window:
            raise ValueError(f"need window >= 3 and 2 <= warmup <= window, got {window}, {warmup}")
        if min_scale <= 0.0 or min_rel_scale < 0.0:
            raise ValueError("min_scale must be > 0 and min_rel_scale >= 0")
        check_shape(z_center, power)
        self.window = window
        self.warmup = warmup
        self.z_center = z_center
        self.power = power
        self.min_scale = min_scale
        self.min_rel_scale = min_rel_scale
        # Learned state: arrival-order rings and their sorted copies.
        self.values: list[float] = []
        self.residuals: list[float] = []
        self.sorted_values: list[float] = []
        self.sorted_residuals: list[float] = []
        self.head = 0  # next ring slot to overwrite once full

    def _centre_scale(self) -> tuple[float, float]:
        median = _median(self.sorted_values)
        scale = max(
            _MAD_TO_STD * _median(self.sorted_residuals), self.min_scale, self.min_rel_scale * abs(median)
        )
        return median, scale

    def z_one(self, x: float) -> ZStat:
        if len(self.values) < self.warmup:
            return None
        median, scale = self._centre_scale()
        return abs(x - median) / scale, median, scale

    def learn_one(self, x: float) -> None:
        x = float(x)
        residual = abs(x - _median(self.sorted_values)) if self.values else 0.0
        if len(self.values) < self.window:
            self.values.append(x)
            self.residuals.append(residual)
        else:
            h = self.head
            old, old_residual = self.values[h], self.residuals[h]
            del self.sorted_values[bisect_left(self.sorted_values, old)]
            del self.sorted_residuals[bisect_left(self.sorted_residuals, old_residual)]
            self.values[h], self.residuals[h] = x, residual
            self.head = (h + 1) % self.window
        insort(self.sorted_values, x)
        insort(self.sorted_residuals, residual)
