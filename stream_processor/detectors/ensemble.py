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
on one calibrated scale; the ensemble takes the largest ``u``. Then it
*suppresses repeats*: ``peak`` is the largest ``u`` seen recently, forgotten
geometrically by ``suppress_decay`` per reading; a reading whose ``u`` does
not exceed ``peak`` has it multiplied by ``suppress_factor``. A new anomaly
thus scores high on its first readings and its continuation lower, which is
what an alert (and NAB's scoring) wants: one early detection, not a wall of
them, while a larger anomaly inside a smaller one still stands out. The
score is ``1 / (1 + u**-power)``.

When it doesn't: the parts' weaknesses add up as false alarms (a periodic
signal trips ``median_mad`` and ``level_shift`` on every cycle; give such a
point ``seasonal_lag`` or its own detector); and while an anomaly lasts, a
second, smaller one is scored down.

Parts are weighted through their ``z_center``: a part with a larger one must
see a larger deviation before it wins. Parts whose statistic keeps growing
while an anomaly lasts (a flatline's run, an uncapped CUSUM) or whose scale
can collapse to its floor (``median_mad`` on a signal that sits on one value)
defeat the suppression and rank poorly across points; docs/nab.md has the
measurements.

Cost: the sum of its parts plus about 1 µs (see docs/nab.md for figures).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from stream_processor.detectors.base import DetectorBase, Explanation
from stream_processor.detectors.registry import create_detector, register
from stream_processor.detectors.tail import ZStatDetector, unit_score

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


class EnsembleExplanation(NamedTuple):
    """What an operator needs to read a score: which part fired, its expected band, the value."""

    score: float
    expected_low: float | None
    expected_high: float | None
    detector: str | None
    observed: float


@register("ensemble")
class EnsembleDetector(DetectorBase):
    """Max of calibrated parts with repeat suppression; explanations name the part.

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
        suppress_decay: float = 0.998,
        suppress_factor: float = 0.5,
    ) -> None:
        if power <= 0.0 or not 0.0 <= suppress_decay < 1.0 or not 0.0 <= suppress_factor <= 1.0:
            raise ValueError("need power > 0, 0 <= suppress_decay < 1, 0 <= suppress_factor <= 1")
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
        # Learned state: the parts' states and the recent peak of u.
        self.names = list(chosen)
        self.parts = parts
        self.peak = 0.0

    def _combine(self, stats: list[tuple[float, float, float] | None]) -> tuple[Explanation, int]:
        best = -1.0
        winner = -1
        for i, stat in enumerate(stats):
            if stat is not None:
                u = stat[0] / self.parts[i].z_center
                if u > best:
                    best, winner = u, i
        if winner < 0:
            return _NOTHING_YET, -1
        _, centre, scale = stats[winner]  # type: ignore[misc]  # winner's stat is not None
        half = self.parts[winner].z_center * scale
        u = best if best > self.peak else best * self.suppress_factor
        return Explanation(unit_score(u, self.power), centre - half, centre + half), winner

    def explain_one(self, x: float) -> Explanation:
        return self._combine([p.z_one(x) for p in self.parts])[0]

    def explain_detail(self, x: float) -> EnsembleExplanation:
        """:meth:`explain_one` with the name of the part that gave the score and the value."""
        e, winner = self._combine([p.z_one(x) for p in self.parts])
        name = self.names[winner] if winner >= 0 else None
        return EnsembleExplanation(e.score, e.expected_low, e.expected_high, name, float(x))

    def score_one(self, x: float) -> float:
        return self.explain_one(x).score

    def _learn_peak(self, stats: list[tuple[float, float, float] | None]) -> None:
        best = 0.0
        for i, stat in enumerate(stats):
            if stat is not None:
                best = max(best, stat[0] / self.parts[i].z_center)
        self.peak = max(best, self.peak * self.suppress_decay)

    def learn_one(self, x: float) -> None:
        self._learn_peak([p.z_learn_one(x) for p in self.parts])

    def explain_learn_one(self, x: float) -> Explanation:
        # _combine and _learn_peak fused: the per-reading hot path.
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
            self.peak *= self.suppress_decay
            return _NOTHING_YET
        peak = self.peak
        decayed = peak * self.suppress_decay
        self.peak = best if best > decayed else decayed
        u = best if best > peak else best * self.suppress_factor
        half = winner_center * winner[2]
        return Explanation(unit_score(u, self.power), winner[1] - half, winner[1] + half)
