"""Exponentially weighted mean/variance z-score with warm-up and clipped learning.

When it works: a noisy but locally stationary signal (gas concentration,
temperature, pressure at 1 Hz) where an anomaly is a value many standard
deviations from the recent level: spikes, drops, a sensor jumping to a rail.
Slow drifts are followed (the mean forgets with ``alpha``), and a genuine level
shift is adopted within a few dozen readings because clipped learning still
moves the mean by up to ``clip_z`` deviations per reading.

When it doesn't: periodic or multi-modal signals (valves, batch steps, on/off
pumps) look anomalous at every transition; counters that only grow need
differencing first; quantised signals that sit still make the variance shrink
towards the floor, so set ``min_std`` to the sensor's resolution.

Model: after warm-up, ``z = |x - mean| / std`` and the score is a logistic in
``z`` centred on ``z_center`` (score 0.5) with width ``z_scale``: with the
defaults, z=3 scores 0.05, z=5.6 scores 0.9 and z=6.8 scores 0.99. The
expected band is ``mean ± z_center·std``: values inside it score below 0.5.
Learning uses ``x`` clipped to ``mean ± clip_z·std`` (a Huber-type update), so a
single spike moves the model by at most ``alpha·clip_z`` deviations instead of
poisoning it. During the first ``warmup`` readings the weights are ``1/n`` (a
plain running mean and population variance) and every score is 0.

The batch methods solve the two linear recurrences in closed form over chunks
with numpy and fall back to one scalar step at each reading that gets
clipped, so they equal the one-at-a-time loop to rounding.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from stream_processor.detectors.base import DetectorBase, Explanation, ExplanationBatch, FloatArray
from stream_processor.detectors.registry import register

__all__ = ["EWMAZScore"]

#: The closed form divides by running products of (1 - alpha); a chunk ends before
#: that product drops below this, which bounds the rounding error near 1e-16 / 1e-6.
_MIN_DECAY: Final = 1e-6
_MAX_CHUNK: Final = 512
_FIRST_CHUNK: Final = 16
#: exp() argument cap: keeps extreme parameter choices from overflowing.
_EXP_CAP: Final = 700.0
_NOTHING_YET: Final = Explanation(0.0, None, None)


@register("ewma_zscore")
class EWMAZScore(DetectorBase):
    """EWMA z-score detector for one univariate signal.

    >>> det = EWMAZScore(warmup=10)
    >>> for i in range(50):
    ...     det.learn_one(20.0 + (0.5 if i % 2 else -0.5))
    >>> det.score_one(20.2) < 0.01, det.score_one(35.0) > 0.99
    (True, True)
    >>> e = det.explain_one(35.0)
    >>> round(e.expected_low, 1), round(e.expected_high, 1)
    (17.8, 22.2)
    """

    def __init__(
        self,
        alpha: float = 0.02,
        warmup: int = 20,
        z_center: float = 4.5,
        z_scale: float = 0.5,
        clip_z: float = 3.0,
        min_std: float = 1e-6,
        min_rel_std: float = 1e-3,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if warmup < 2:
            raise ValueError(f"warmup must be at least 2 readings, got {warmup}")
        if z_scale <= 0.0 or z_center <= 0.0:
            raise ValueError("z_center and z_scale must be positive")
        if clip_z < 0.0 or min_std <= 0.0 or min_rel_std < 0.0:
            raise ValueError("clip_z and min_rel_std must be >= 0, min_std > 0")
        self.alpha = alpha
        self.warmup = warmup
        self.z_center = z_center
        self.z_scale = z_scale
        self.clip_z = clip_z
        self.min_std = min_std
        self.min_rel_std = min_rel_std
        # Learned state.
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    # -- one at a time -------------------------------------------------------------

    def _std(self) -> float:
        return max(math.sqrt(self.var), self.min_std, self.min_rel_std * abs(self.mean))

    def explain_one(self, x: float) -> Explanation:
        if self.n < self.warmup:
            return _NOTHING_YET
        std = self._std()
        z = abs(x - self.mean) / std
        score = 1.0 / (1.0 + math.exp(min(_EXP_CAP, (self.z_center - z) / self.z_scale)))
        half = self.z_center * std
        return Explanation(score, self.mean - half, self.mean + half)

    def score_one(self, x: float) -> float:
        if self.n < self.warmup:
            return 0.0
        z = abs(x - self.mean) / self._std()
        return 1.0 / (1.0 + math.exp(min(_EXP_CAP, (self.z_center - z) / self.z_scale)))

    def learn_one(self, x: float) -> None:
        n = self.n
        if n == 0:
            self.n, self.mean, self.var = 1, float(x), 0.0
            return
        a = max(self.alpha, 1.0 / (n + 1))
        mean = self.mean
        d = x - mean
        if n >= self.warmup and self.clip_z > 0.0:
            reach = self.clip_z * self._std()
            d = min(max(d, -reach), reach)
        self.mean = mean + a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.n = n + 1

    def explain_learn_one(self, x: float) -> Explanation:
        n = self.n
        if n < self.warmup:
            self.learn_one(x)
            return _NOTHING_YET
        # explain_one and learn_one inlined: the per-reading hot path.
        mean = self.mean
        std = max(math.sqrt(self.var), self.min_std, self.min_rel_std * abs(mean))
        d = x - mean
        z = abs(d) / std
        score = 1.0 / (1.0 + math.exp(min(_EXP_CAP, (self.z_center - z) / self.z_scale)))
        half = self.z_center * std
        if self.clip_z > 0.0:
            reach = self.clip_z * std
            d = min(max(d, -reach), reach)
        a = max(self.alpha, 1.0 / (n + 1))
        self.mean = mean + a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.n = n + 1
        return Explanation(score, mean - half, mean + half)

    # -- batches -----------------------------------------------------------------

    def _scores(self, xs: FloatArray, mean: FloatArray, std: FloatArray) -> FloatArray:
        z = np.abs(xs - mean) / std
        return 1.0 / (1.0 + np.exp(np.minimum(_EXP_CAP, (self.z_center - z) / self.z_scale)))

    def score_many(self, xs: npt.ArrayLike) -> FloatArray:
        values = np.asarray(xs, dtype=np.float64)
        if self.n < self.warmup:
            return np.zeros(values.shape[0])
        std = np.full(values.shape[0], self._std())
        return self._scores(values, np.full(values.shape[0], self.mean), std)

    def learn_many(self, xs: npt.ArrayLike) -> None:
        self.explain_learn_many(xs)

    def explain_learn_many(self, xs: npt.ArrayLike) -> ExplanationBatch:
        values = np.array(xs, dtype=np.float64)  # a copy: state never aliases input
        total = values.shape[0]
        out = np.full((3, total), np.nan)
        i = 0
        chunk = _FIRST_CHUNK
        while i < total:
            if self.n == 0:
                self._step(values, i, out)
                i += 1
                continue
            done, clipped = self._chunk(values[i : i + chunk], out[:, i : i + chunk])
            i += done
            if clipped:  # the closed form stopped before a reading learning clips
                self._step(values, i, out)
                i += 1
                chunk = _FIRST_CHUNK
            else:
                chunk = min(2 * chunk, _MAX_CHUNK)
        return ExplanationBatch(out[0].copy(), out[1].copy(), out[2].copy())

    def _step(self, values: FloatArray, i: int, out: FloatArray) -> None:
        e = self.explain_learn_one(float(values[i]))
        out[0, i] = e.score
        if e.expected_low is not None and e.expected_high is not None:
            out[1, i], out[2, i] = e.expected_low, e.expected_high

    def _chunk(self, xs: FloatArray, out: FloatArray) -> tuple[int, bool]:
        """Explain and learn a prefix of ``xs`` in closed form.

        Returns the prefix length and whether it ended before a reading that
        learning would clip (the closed form assumes no clipping); it also ends
        where the decay product gets small. Needs ``self.n >= 1``.
        """
        size = xs.shape[0]
        n0, m0, v0 = self.n, self.mean, self.var
        counts = n0 + np.arange(size)  # readings learned before each one
        a = np.maximum(self.alpha, 1.0 / (counts + 1.0))
        b = 1.0 - a
        decay = np.cumprod(b)  # decay[k] = b_0 * ... * b_k
        size = int(np.searchsorted(-decay, -_MIN_DECAY, side="left")) or 1
        if size < xs.shape[0]:
            xs, counts, a, b, decay = xs[:size], counts[:size], a[:size], b[:size], decay[:size]
        # Mean, centred on m0 so large offsets do not cost precision.
        y = xs - m0
        mean_after = decay * np.cumsum(a * y / decay)
        mean_before = np.empty(size)
        mean_before[0] = 0.0
        mean_before[1:] = mean_after[:-1]
        d = y - mean_before
        var_after = decay * (v0 + np.cumsum(b * a * d * d / decay))
        var_before = np.empty(size)
        var_before[0] = v0
        var_before[1:] = var_after[:-1]
        mean_before += m0
        std = np.maximum(
            np.sqrt(var_before), np.maximum(self.min_std, self.min_rel_std * np.abs(mean_before))
        )
        warm = counts >= self.warmup
        hit_clip = False
        if self.clip_z > 0.0:
            clipped = np.flatnonzero(warm & (np.abs(d) > self.clip_z * std))
            if clipped.size:
                hit_clip = True
                size = int(clipped[0])
                if size == 0:
                    return 0, True
                xs, warm, mean_before, std = xs[:size], warm[:size], mean_before[:size], std[:size]
                mean_after, var_after = mean_after[:size], var_after[:size]
        scores = self._scores(xs, mean_before, std)
        half = self.z_center * std
        out[0, :size] = np.where(warm, scores, 0.0)
        out[1, :size] = np.where(warm, mean_before - half, np.nan)
        out[2, :size] = np.where(warm, mean_before + half, np.nan)
        self.n = n0 + size
        self.mean = m0 + float(mean_after[-1])
        self.var = float(var_after[-1])
        return size, hit_clip
