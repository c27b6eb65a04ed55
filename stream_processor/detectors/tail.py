"""Detectors whose evidence is one z-like statistic, mapped to a score that does not saturate.

A detector built on :class:`ZStatDetector` only says, for a value ``x``, how
far it is from what was expected in units of a scale (``z >= 0``), around
which centre and with which scale; the base turns that into the protocol's
score and band. The score is the log-logistic ``1 / (1 + (z_center/z)**power)``:
0.5 at ``z_center``, and strictly increasing in ``z`` up to ``z`` of about
``z_center·1e4`` (where float64 rounds to 1). That matters for ranking: a
detector whose score is exactly 1 for every large deviation cannot tell a
huge anomaly from a merely large one, and a threshold cannot separate them.

The expected band is ``centre ± z_center·scale``. The combiner
(:mod:`stream_processor.detectors.ensemble`) reads ``z / z_center`` of each
part directly through :meth:`ZStatDetector.z_learn_one`.
"""

from __future__ import annotations

from typing import Final

from stream_processor.detectors.base import DetectorBase, Explanation

__all__ = ["ZStatDetector", "ZStat", "check_shape", "unit_score"]

#: (z, centre, scale) of one value; None during warm-up.
ZStat = tuple[float, float, float] | None

_NOTHING_YET: Final = Explanation(0.0, None, None)


def unit_score(ratio: float, power: float) -> float:
    """``1 / (1 + ratio**-power)`` for ``ratio = z / z_center >= 0``; 0 at 0, 0.5 at 1."""
    if ratio <= 0.0:
        return 0.0
    if ratio < 1e-3:
        return 1.0 / (1.0 + min(1e300, ratio ** -power))
    return 1.0 / (1.0 + ratio**-power)


class ZStatDetector(DetectorBase):
    """Base for detectors defined by :meth:`z_one` (pure) and :meth:`learn_one`.

    Subclasses set ``z_center`` and ``power`` (constructor arguments) and may
    override :meth:`z_learn_one` with a fused version.
    """

    z_center: float
    power: float

    def z_one(self, x: float) -> ZStat:
        """``(z, centre, scale)`` for ``x`` against the current state, or None in warm-up."""
        raise NotImplementedError

    def z_learn_one(self, x: float) -> ZStat:
        """:meth:`z_one` then :meth:`learn_one`."""
        stat = self.z_one(x)
        self.learn_one(x)
        return stat

    def _explain(self, stat: ZStat) -> Explanation:
        if stat is None:
            return _NOTHING_YET
        z, centre, scale = stat
        half = self.z_center * scale
        return Explanation(unit_score(z / self.z_center, self.power), centre - half, centre + half)

    def explain_one(self, x: float) -> Explanation:
        return self._explain(self.z_one(x))

    def score_one(self, x: float) -> float:
        stat = self.z_one(x)
        return 0.0 if stat is None else unit_score(stat[0] / self.z_center, self.power)

    def explain_learn_one(self, x: float) -> Explanation:
        return self._explain(self.z_learn_one(x))


def check_shape(z_center: float, power: float) -> None:
    """Shared constructor validation of the score's shape."""
    if z_center <= 0.0 or power <= 0.0:
        raise ValueError(f"z_center and power must be positive, got {z_center}, {power}")
