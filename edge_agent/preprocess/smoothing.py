"""``step: smoothing``: exponential moving average, weight ``alpha`` on the newest value.

>>> from parkwatch.wire.frames import Reading
>>> step = Smoothing(SmoothingConfig(step="smoothing", alpha=0.5))
>>> [step.apply("d", [Reading("p", t, v, "good")])[0].value for t, v in [(0, 10.0), (1, 20.0), (2, 20.0)]]
[10.0, 15.0, 17.5]
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge_agent.preprocess.registry import StepBase, StepConfig, register
from parkwatch.wire.frames import Reading

__all__ = ["SmoothingConfig", "Smoothing"]


class SmoothingConfig(StepConfig):
    step: Literal["smoothing"]
    alpha: float = Field(gt=0, le=1)


@register("smoothing", SmoothingConfig)
class Smoothing(StepBase):
    """EWMA per point; readings without a value pass unchanged and do not reset the mean."""

    def __init__(self, config: SmoothingConfig) -> None:
        self.config = config
        self._mean: dict[tuple[str, str], float] = {}

    def apply(self, device: str, readings: list[Reading]) -> list[Reading]:
        alpha = self.config.alpha
        out = []
        for r in readings:
            if r.value is not None and self.config.selects(device, r.point):
                key = (device, r.point)
                prev = self._mean.get(key)
                mean = r.value if prev is None else prev + alpha * (r.value - prev)
                self._mean[key] = mean
                r = Reading(r.point, r.ts_ms, mean, r.quality)
            out.append(r)
        return out
