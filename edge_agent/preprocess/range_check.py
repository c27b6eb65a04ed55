"""``step: range``: values outside ``[min, max]`` become quality ``bad`` with value null.

>>> from parkwatch.wire.frames import Reading
>>> step = RangeCheck(RangeConfig(step="range", min=0, max=100))
>>> batch = [Reading("p", 0, 50.0, "good"), Reading("p", 0, 120.0, "good")]
>>> [(r.value, r.quality) for r in step.apply("d", batch)]
[(50.0, 'good'), (None, 'bad')]
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from edge_agent.preprocess.registry import StepBase, StepConfig, register
from parkwatch.wire.frames import Reading

__all__ = ["RangeConfig", "RangeCheck"]


class RangeConfig(StepConfig):
    step: Literal["range"]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeConfig:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        return self


@register("range", RangeConfig)
class RangeCheck(StepBase):
    """Marks implausible values ``bad`` so they never pass for measurements."""

    def __init__(self, config: RangeConfig) -> None:
        self.config = config

    def apply(self, device: str, readings: list[Reading]) -> list[Reading]:
        c = self.config
        low = float("-inf") if c.min is None else c.min
        high = float("inf") if c.max is None else c.max
        out = []
        for r in readings:
            if r.value is not None and not low <= r.value <= high and c.selects(device, r.point):
                r = Reading(r.point, r.ts_ms, None, "bad")
            out.append(r)
        return out
