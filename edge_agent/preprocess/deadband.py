"""``step: deadband``: report by exception, but every point at least once per ``heartbeat``.

A reading is kept when its value moved by at least ``abs`` since the last
kept one, its quality changed, or ``heartbeat`` passed (event time).

>>> from parkwatch.wire.frames import Reading
>>> step = Deadband(DeadbandConfig(step="deadband", abs=0.5, heartbeat="10s"))
>>> kept = [step.apply("d", [Reading("p", t, v, "good")]) for t, v in
...         [(0, 1.0), (1000, 1.2), (2000, 1.6), (3000, 1.6), (13000, 1.6)]]
>>> [r[0].value if r else None for r in kept]
[1.0, None, 1.6, None, 1.6]
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge_agent.preprocess.registry import StepBase, StepConfig, register
from parkwatch.durations import Duration
from parkwatch.wire.frames import Reading

__all__ = ["DeadbandConfig", "Deadband"]


class DeadbandConfig(StepConfig):
    step: Literal["deadband"]
    abs: float = Field(ge=0)
    heartbeat_s: Duration = Field(default=60.0, alias="heartbeat")


@register("deadband", DeadbandConfig)
class Deadband(StepBase):
    """Drops readings that tell nothing new; see the module docstring."""

    def __init__(self, config: DeadbandConfig) -> None:
        self.config = config
        self._last: dict[tuple[str, str], Reading] = {}

    def apply(self, device: str, readings: list[Reading]) -> list[Reading]:
        band = self.config.abs
        heartbeat_ms = self.config.heartbeat_s * 1000
        out = []
        for r in readings:
            if not self.config.selects(device, r.point):
                out.append(r)
                continue
            key = (device, r.point)
            last = self._last.get(key)
            if (
                last is not None
                and last.quality == r.quality
                and r.ts_ms - last.ts_ms < heartbeat_ms
                and (r.value is None or last.value is None or abs(r.value - last.value) < band)
            ):
                continue
            self._last[key] = r
            out.append(r)
        return out
