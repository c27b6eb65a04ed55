"""Several detectors combined into one score per reading, with which one fired and why.

When it works: as the default for points nobody has studied. Each part
watches one kind of anomaly (by default: a value unusual for the point at all
(``ewma_level``), unusual for its phase of the daily cycle (``seasonal_lag``),
or an unusual step (``rate_of_change``); ``median_mad``, ``level_shift`` and
``flatline`` can be added through ``members``); the combined score is the
strongest evidence among them, and :meth:`EnsembleDetector.explain_detail`
names the part, its expected band and the observed value.

How: every part is a :class:`~stream_processor.detectors.tail.ZStatDetector`
and reports ``u = z / z_center`` (1 is its own "score 0.5"), so the parts are
on one calibrated scale; the ensemble takes the largest ``u``. Five steps follow:

1. *New extreme*: once ``warmup`` readings were learned, a value beyond the
   range of every value seen so far by more than ``extreme_tolerance`` times
   that range, which the parts themselves find at least mildly unusual
   (``u >= extreme_min_u``), gets ``u`` at least ``extreme_u`` (Numenta's HTM
   detector has a similar "spatial anomaly"): new territory for the point is
   news even when its variance, inflated by old spikes, plays it down. The
   parts' vote is what keeps this quiet on ordinary signals: a noisy or
   cycling point sets records all the time while it is young (its first
   cycle, a random walk's drift), but those records are ordinary for the
   parts (``u`` 0.46-0.65 on the noisy sine of the tests); a NAB anomaly
   that sets a record mostly has ``u >= 0.9`` already but is held down by the
   suppression below.
2. *Repeat suppression*: ``peak`` is the largest ``u`` seen recently,
   forgotten geometrically by ``suppress_decay`` per reading; a reading whose
   ``u`` does not exceed ``peak`` has it multiplied by ``suppress_factor``. A
   new anomaly thus scores high on its first readings and its continuation
   lower, which is what an alert (and NAB's scoring) wants: one early
   detection, not a wall of them, while a larger anomaly inside a smaller one
   still stands out.
3. *Daily repeats* (``repeat_period > 0``): the largest ``u`` of each slot of
   ``repeat_width`` readings of the period is remembered for the next period
   (older periods fade by ``repeat_decay`` each). A reading that escaped step 2
   but whose ``u`` is at most ``repeat_margin`` times what its slot or the two
   neighbouring slots saw one period earlier is a repeat of yesterday's event
   (a nightly backup, a daily batch job, a cleaning cycle): its ``u`` is
   multiplied by ``repeat_factor``. The period counts readings, like
   ``seasonal_lag``'s (288: a day of 5-minute data; at 1 Hz, under five
   minutes).
4. *Anomaly likelihood* (Numenta's HTM post-processing): the raw score
   ``1 / (1 + u**-power)`` (after step 1, before steps 2 and 3: a normalised
   prediction error) is averaged over a short memory (EWMA weight
   ``likelihood_short``); that short mean is compared with its own long-run
   mean and spread (EWMA weight ``likelihood_long``) as a Gaussian tail ``Q``,
   and ``L = log(Q + 1e-10) / log(1e-10)`` (NAB's log scale, 0 usual … 1 for a
   tail of ``1e-10``) multiplies ``u`` by ``exp(likelihood_gain · L)``. A
   sustained rise of the point's surprise (noisier, a changed pattern) lifts
   readings that alone would pass, while a point whose parts fire all the time
   (routine spikes) gets no lift from them. It starts after ``warmup`` rated
   readings.
5. The score is ``1 / (1 + u**-power)``: a single large deviation still
   scores near 1 at once (the likelihood only adds), so alerting on it stays
   immediate.

With ``extreme_u = 0``, ``repeat_period = 0`` and ``likelihood_gain = 0`` it
is the plain max + suppression of earlier versions. The defaults score 71.1
standard on the NAB series in ``../shared/nab`` (docs/nab.md, with every
trial and the false alerts on plain signals).

When it doesn't: the parts' weaknesses add up as false alarms (a periodic
signal trips ``median_mad`` and ``level_shift`` on every cycle; give such a
point ``seasonal_lag`` or its own detector); while an anomaly lasts, a
second, smaller one is scored down; an anomaly that recurs at the same time
of the period is scored down from its second day on; the range never
forgets, so a point that once spiked far hides later, smaller new extremes
(the parts still see them); after a lasting change the likelihood keeps
lifting scores until its long memory (about ``1/likelihood_long`` readings)
has adopted the new normal; and a point with white Gaussian noise still
opens about two alerts in its first day at 1 Hz from its new records beyond
4 sigma (docs/nab.md), fewer as its range settles.

Parts are weighted through their ``z_center``: a part with a larger one must
see a larger deviation before it wins. Parts whose statistic keeps growing
while an anomaly lasts (a flatline's run, an uncapped CUSUM) or whose scale
can collapse to its floor (``median_mad`` on a signal that sits on one value)
defeat the suppression and rank poorly across points; docs/nab.md has the
measurements.

Cost: the sum of its parts plus about 2.5 µs; state: the parts' plus eight
floats and two lists of ``repeat_period / repeat_width`` floats (36 each by
default); see docs/nab.md for figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from stream_processor.detectors.base import DetectorBase, Explanation
from stream_processor.detectors.registry import create_detector, register
from stream_processor.detectors.tail import ZStat, ZStatDetector, unit_score

__all__ = ["EnsembleDetector", "EnsembleExplanation", "DEFAULT_MEMBERS"]

#: The parts and their parameters when none are given.
#: Tuned on NAB (docs/nab.md): long memories and unclipped variances, so that each
#: point's own heavy tails set its scale and scores of different points compare.
DEFAULT_MEMBERS: Final[Mapping[str, Mapping[str, Any]]] = {
    "ewma_level": {"alpha": 0.001, "clip_z": 0.0, "z_center": 4.5},
    "seasonal_lag": {"period": 288, "alpha": 0.001, "clip_z": 0.0, "z_center": 9.0},
    "rate_of_change": {"alpha": 0.001, "clip_z": 0.0, "z_center": 12.0},
}
_NOTHING_YET: Final = Explanation(0.0, None, None)
_RANGE: Final = "range"  # explain_detail's name for the new-extreme check
_SQRT_HALF: Final = math.sqrt(0.5)
_LOG_TINY: Final = math.log(1e-10)  # NAB's log scaling of the likelihood maps 1 - 1e-10 to 1
_MIN_RAW_STD: Final = 0.01  # floor of the spread of the short mean of raw scores (in [0, 1]); docs/nab.md
_MIN_RAW_VAR: Final = _MIN_RAW_STD**2


class EnsembleExplanation(NamedTuple):
    """What an operator needs to read a score: which part fired, its expected band, the value."""

    score: float
    expected_low: float | None
    expected_high: float | None
    detector: str | None
    observed: float


@register("ensemble")
class EnsembleDetector(DetectorBase):
    """Max of calibrated parts, new-extreme check, repeat suppression, likelihood; names the part.

    >>> det = EnsembleDetector()
    >>> for i in range(200):
    ...     det.learn_one(50.0 + (0.5 if i % 2 else -0.5))
    >>> e = det.explain_detail(80.0)
    >>> e.score > 0.99, e.detector, e.expected_low < 50.0 < e.expected_high, e.observed
    (True, 'ewma_level', True, 80.0)
    >>> det.explain_one(50.2).score < 0.1
    True
    """

    def __init__(
        self,
        members: Mapping[str, Mapping[str, Any]] | None = None,
        power: float = 4.0,
        suppress_decay: float = 0.997,
        suppress_factor: float = 0.5,
        warmup: int = 150,
        extreme_tolerance: float = 0.05,
        extreme_u: float = 4.0,
        extreme_min_u: float = 0.9,
        repeat_period: int = 288,
        repeat_width: int = 8,
        repeat_decay: float = 0.8,
        repeat_margin: float = 1.5,
        repeat_factor: float = 0.25,
        likelihood_short: float = 0.03,
        likelihood_long: float = 0.001,
        likelihood_gain: float = 2.0,
    ) -> None:
        if power <= 0.0 or not 0.0 <= suppress_decay < 1.0 or not 0.0 <= suppress_factor <= 1.0:
            raise ValueError("need power > 0, 0 <= suppress_decay < 1, 0 <= suppress_factor <= 1")
        if warmup < 2 or extreme_tolerance < 0.0 or extreme_u < 0.0 or likelihood_gain < 0.0:
            raise ValueError("need warmup >= 2, extreme_tolerance >= 0, extreme_u >= 0, likelihood_gain >= 0")
        if extreme_min_u < 0.0:
            raise ValueError("need extreme_min_u >= 0")
        if repeat_period < 0 or (repeat_period > 0 and not 1 <= repeat_width <= repeat_period):
            raise ValueError("need repeat_period >= 0 and, when on, 1 <= repeat_width <= repeat_period")
        if not (0.0 <= repeat_decay <= 1.0 and repeat_margin > 0.0 and 0.0 <= repeat_factor <= 1.0):
            raise ValueError("need 0 <= repeat_decay <= 1, repeat_margin > 0, 0 <= repeat_factor <= 1")
        if not (0.0 < likelihood_short <= 1.0 and 0.0 < likelihood_long < 1.0):
            raise ValueError("need 0 < likelihood_short <= 1 and 0 < likelihood_long < 1")
        chosen = DEFAULT_MEMBERS if members is None else members
        if not chosen:
            raise ValueError("an ensemble needs at least one member")
        parts: list[ZStatDetector] = []
        for name, params in chosen.items():
            part = create_detector(name, params)
            if not isinstance(part, ZStatDetector):
                raise ValueError(f"member {name!r} does not report a z statistic; z-stat detectors only")
            parts.append(part)
        self.members = members
        self.power = power
        self.suppress_decay = suppress_decay
        self.suppress_factor = suppress_factor
        self.warmup = warmup
        self.extreme_tolerance = extreme_tolerance
        self.extreme_u = extreme_u
        self.extreme_min_u = extreme_min_u
        self.repeat_period = repeat_period
        self.repeat_width = repeat_width
        self.repeat_decay = repeat_decay
        self.repeat_margin = repeat_margin
        self.repeat_factor = repeat_factor
        self.likelihood_short = likelihood_short
        self.likelihood_long = likelihood_long
        self.likelihood_gain = likelihood_gain
        # Learned state: the parts' states, the recent peak of u, the range of the values
        # seen, the largest u per slot of the last period (and of this one, so far), and
        # the short mean of the raw score with the long mean/variance of that mean.
        self.names = list(chosen)
        self.parts = parts
        self.peak = 0.0
        self.n = 0  # readings learned
        self.low = math.inf
        self.high = -math.inf
        slots = -(-repeat_period // repeat_width) if repeat_period else 0
        self.last_period = [0.0] * slots  # faded max u per slot, periods before this one
        self.this_period = [0.0] * slots  # max u per slot of this period so far
        self.rated = 0  # readings with a raw score (a part out of its warm-up)
        self.short = 0.0
        self.long_mean = 0.0
        self.long_var = 0.0

    def _best(self, stats: list[ZStat]) -> tuple[float, int]:
        best = -1.0
        winner = -1
        for i, stat in enumerate(stats):
            if stat is not None:
                u = stat[0] / self.parts[i].z_center
                if u > best:
                    best, winner = u, i
        return best, winner

    def _repeat_level(self, n: int) -> tuple[int, float]:
        """Slot of the ``n``-th reading and the largest faded ``u`` of it and its neighbours last period."""
        slot = (n % self.repeat_period) // self.repeat_width
        last = self.last_period
        after = slot + 1 if slot + 1 < len(last) else 0
        return slot, max(last[slot - 1], last[slot], last[after])

    def _close_period(self) -> None:
        """At the end of a period: this period's maxima join the faded memory of earlier ones."""
        decay = self.repeat_decay
        pairs = zip(self.this_period, self.last_period, strict=True)
        self.last_period = [now if now > decay * old else decay * old for now, old in pairs]
        self.this_period = [0.0] * len(self.this_period)

    def _finish(self, x: float, best: float, learn: bool) -> tuple[float, bool]:
        """The combined score from the parts' best ``u`` (>= 0); with ``learn``, update the state.

        Returns the score and whether the new-extreme check decided it.
        """
        n = self.n
        low, high = self.low, self.high
        extreme = False
        if n >= self.warmup and self.extreme_u > best >= self.extreme_min_u:
            reach = self.extreme_tolerance * (high - low)
            if x > high + reach or x < low - reach:
                best, extreme = self.extreme_u, True
        peak = self.peak
        u = best if best > peak else best * self.suppress_factor
        if self.repeat_period:
            slot, before = self._repeat_level(n)
            if peak < best <= self.repeat_margin * before:
                u = best * self.repeat_factor
            if learn:
                if best > self.this_period[slot]:
                    self.this_period[slot] = best
                if (n + 1) % self.repeat_period == 0:
                    self._close_period()
        # HTM-style anomaly likelihood: how unusual the recent mean of the raw score is.
        raw = unit_score(best, self.power)
        short = self.short + self.likelihood_short * (raw - self.short)
        rated = self.rated
        mean = self.long_mean
        var = self.long_var
        if rated >= self.warmup and self.likelihood_gain > 0.0:
            z = (short - mean) / (math.sqrt(var) if var > _MIN_RAW_VAR else _MIN_RAW_STD)
            tail = 0.5 * math.erfc(z * _SQRT_HALF)  # Q(z), 1 - likelihood
            log_score = math.log(tail + 1e-10) / _LOG_TINY  # NAB's log scaling: 0 .. 1
            if log_score > 0.0:
                u *= math.exp(self.likelihood_gain * log_score)
        if learn:
            self.n = n + 1
            if x < low:
                self.low = x
            if x > high:
                self.high = x
            decayed = peak * self.suppress_decay
            self.peak = best if best > decayed else decayed
            self.short = short
            a = max(self.likelihood_long, 1.0 / (rated + 1))
            d = short - mean
            self.long_mean = mean + a * d
            self.long_var = (1.0 - a) * (var + a * d * d)
            self.rated = rated + 1
        return unit_score(u, self.power), extreme

    def _learn_unrated(self, x: float) -> None:
        """What a reading teaches while no part has a score yet: the range, the peak's decay, the period."""
        self.n += 1
        self.low = min(self.low, x)
        self.high = max(self.high, x)
        self.peak *= self.suppress_decay
        if self.repeat_period and self.n % self.repeat_period == 0:
            self._close_period()

    def _explain(self, x: float, stats: list[ZStat], learn: bool) -> tuple[Explanation, str | None]:
        best, winner = self._best(stats)
        if winner < 0:
            if learn:
                self._learn_unrated(x)
            return _NOTHING_YET, None
        score, extreme = self._finish(x, best, learn)
        _, centre, scale = stats[winner]  # type: ignore[misc]  # winner's stat is not None
        half = self.parts[winner].z_center * scale
        name = _RANGE if extreme else self.names[winner]
        return Explanation(score, centre - half, centre + half), name

    def explain_one(self, x: float) -> Explanation:
        x = float(x)
        return self._explain(x, [p.z_one(x) for p in self.parts], learn=False)[0]

    def explain_detail(self, x: float) -> EnsembleExplanation:
        """:meth:`explain_one` with the name of what gave the score and the value.

        The name is the part with the largest ``u``, or ``"range"`` when the
        value is a new extreme and that check lifted the score.
        """
        x = float(x)
        e, name = self._explain(x, [p.z_one(x) for p in self.parts], learn=False)
        return EnsembleExplanation(e.score, e.expected_low, e.expected_high, name, x)

    def score_one(self, x: float) -> float:
        return self.explain_one(x).score

    def learn_one(self, x: float) -> None:
        x = float(x)
        self._explain(x, [p.z_learn_one(x) for p in self.parts], learn=True)

    def explain_learn_one(self, x: float) -> Explanation:
        # The per-reading hot path: the parts' z_one and learn_one fused, and _finish(learn=True)
        # inlined (the contract checks hold it equal to explain_one followed by learn_one).
        best = -1.0
        winner: tuple[float, float, float] | None = None
        winner_center = 1.0
        for part in self.parts:
            stat = part.z_learn_one(x)
            if stat is not None:
                u = stat[0] / part.z_center
                if u > best:
                    best, winner, winner_center = u, stat, part.z_center
        if winner is None:
            self._learn_unrated(x)
            return _NOTHING_YET
        n = self.n
        low = self.low
        high = self.high
        if n >= self.warmup and self.extreme_u > best >= self.extreme_min_u:
            reach = self.extreme_tolerance * (high - low)
            if x > high + reach or x < low - reach:
                best = self.extreme_u
        self.n = n + 1
        if x < low:
            self.low = float(x)
        if x > high:
            self.high = float(x)
        peak = self.peak
        decayed = peak * self.suppress_decay
        self.peak = best if best > decayed else decayed
        u = best if best > peak else best * self.suppress_factor
        period = self.repeat_period
        if period:
            slot = (n % period) // self.repeat_width
            last = self.last_period
            if best > peak:
                before = last[slot]
                if last[slot - 1] > before:
                    before = last[slot - 1]
                after = last[slot + 1] if slot + 1 < len(last) else last[0]
                if after > before:
                    before = after
                if best <= self.repeat_margin * before:
                    u = best * self.repeat_factor
            this = self.this_period
            if best > this[slot]:
                this[slot] = best
            if (n + 1) % period == 0:
                self._close_period()
        power = self.power
        old_short = self.short
        raw = 1.0 / (1.0 + best**-power) if best > 1e-3 else unit_score(best, power)
        short = old_short + self.likelihood_short * (raw - old_short)
        self.short = short
        rated = self.rated
        mean = self.long_mean
        var = self.long_var
        if rated >= self.warmup and self.likelihood_gain > 0.0:
            z = (short - mean) / (math.sqrt(var) if var > _MIN_RAW_VAR else _MIN_RAW_STD)
            log_score = math.log(0.5 * math.erfc(z * _SQRT_HALF) + 1e-10) / _LOG_TINY
            if log_score > 0.0:
                u *= math.exp(self.likelihood_gain * log_score)
        a = 1.0 / (rated + 1)
        if a < self.likelihood_long:
            a = self.likelihood_long
        d = short - mean
        self.long_mean = mean + a * d
        self.long_var = (1.0 - a) * (var + a * d * d)
        self.rated = rated + 1
        half = winner_center * winner[2]
        return Explanation(unit_score(u, power), winner[1] - half, winner[1] + half)
