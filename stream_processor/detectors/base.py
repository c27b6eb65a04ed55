"""The detector protocol: one univariate online anomaly detector per sensor point.

Who calls what: the Faust agent owns one detector per ``(device, point)``, kept
in the detector-state table. For every *good* reading, in event-time order, it
asks for the score (and the expected band) **before** learning the value, so a
point is never judged by a model that has already seen it. Readings of other
qualities are neither scored nor learned. All calls come from the agent's task;
detectors need no locking and do no I/O.

The contract, checked for every registered detector by
:mod:`stream_processor.detectors.checks`:

* ``score_one(x)`` returns a float in ``[0, 1]``, higher meaning more anomalous,
  and works before anything was learned (it then says ``0``: no evidence).
* ``score_one``/``explain_one``/``score_many`` are pure: they never change state.
* ``learn_many(xs)`` leaves the same state as ``for x in xs: learn_one(x)``;
  ``score_many(xs)`` equals ``[score_one(x) for x in xs]`` against the current state;
  ``explain_learn_one(x)`` equals ``explain_one(x)`` followed by ``learn_one(x)``
  (fused, because that pair is the per-reading hot path), and
  ``explain_learn_many(xs)`` equals it applied to each ``x`` in turn.
* Constructor arguments are stored under their own names, so :meth:`clone`
  rebuilds an unlearned copy; learned state is everything else, is picklable
  (it lives in a Faust table) and never aliases the caller's arrays.

Thresholds and alert rules sit outside the detector
(:mod:`stream_processor.alerting`).
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Detector", "DetectorBase", "Explanation", "ExplanationBatch", "FloatArray"]

FloatArray = npt.NDArray[np.float64]


class Explanation(NamedTuple):
    """A score with the range of values the model expected.

    ``expected_low``/``expected_high`` are ``None`` while the model has too little
    data to say (its warm-up); values inside the band score below 0.5.
    """

    score: float
    expected_low: float | None
    expected_high: float | None


class ExplanationBatch(NamedTuple):
    """Explanations for many values; the band arrays hold NaN where there is none."""

    score: FloatArray
    expected_low: FloatArray
    expected_high: FloatArray

    def __len__(self) -> int:  # the length of the batch, not of the tuple
        return int(self.score.shape[0])

    def at(self, i: int) -> Explanation:
        """The explanation of the ``i``-th value."""
        low = float(self.expected_low[i])
        high = float(self.expected_high[i])
        return Explanation(
            float(self.score[i]), None if low != low else low, None if high != high else high
        )


@runtime_checkable
class Detector(Protocol):
    """What the agent needs from a detector; see the module docstring for the contract."""

    def learn_one(self, x: float) -> None: ...

    def score_one(self, x: float) -> float: ...

    def explain_one(self, x: float) -> Explanation: ...

    def learn_many(self, xs: npt.ArrayLike) -> None: ...

    def score_many(self, xs: npt.ArrayLike) -> FloatArray: ...

    def explain_learn_one(self, x: float) -> Explanation: ...

    def explain_learn_many(self, xs: npt.ArrayLike) -> ExplanationBatch: ...

    def clone(self) -> Self: ...


class DetectorBase:
    """Shared plumbing: parameters, cloning, and loop fallbacks for the batch methods.

    Subclasses implement ``learn_one`` and ``explain_one``, store every
    constructor argument under its own name, and override the ``*_many``
    methods when they can do better than a loop.
    """

    def learn_one(self, x: float) -> None:
        raise NotImplementedError

    def explain_one(self, x: float) -> Explanation:
        raise NotImplementedError

    def score_one(self, x: float) -> float:
        return self.explain_one(x).score

    def explain_learn_one(self, x: float) -> Explanation:
        e = self.explain_one(x)
        self.learn_one(x)
        return e

    def learn_many(self, xs: npt.ArrayLike) -> None:
        for x in np.asarray(xs, dtype=np.float64).tolist():
            self.learn_one(x)

    def score_many(self, xs: npt.ArrayLike) -> FloatArray:
        values = np.asarray(xs, dtype=np.float64).tolist()
        return np.array([self.score_one(x) for x in values], dtype=np.float64)

    def explain_learn_many(self, xs: npt.ArrayLike) -> ExplanationBatch:
        values = np.asarray(xs, dtype=np.float64).tolist()
        out = np.full((3, len(values)), np.nan)
        for i, x in enumerate(values):
            e = self.explain_learn_one(x)
            out[0, i] = e.score
            if e.expected_low is not None and e.expected_high is not None:
                out[1, i] = e.expected_low
                out[2, i] = e.expected_high
        return ExplanationBatch(out[0].copy(), out[1].copy(), out[2].copy())

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            name
            for name, p in sig.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, read back from the attributes of the same names."""
        return {name: getattr(self, name) for name in self._param_names()}

    def clone(self) -> Self:
        """A new, unlearned detector with the same parameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
