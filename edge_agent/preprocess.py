"""Preprocessing steps between the device runners and the frame builder.

Configured in the gateway config as an ordered list; each step names its
kind with ``step`` (the registry key) and may be limited to some devices and
points (default: all)::

    preprocessing:
      - step: range           # values outside [min, max] become quality "bad", value null
        points: [ch4]
        min: 0
        max: 100
      - step: smoothing       # exponential moving average, weight ``alpha`` on the newest value
        devices: [flow-01]
        alpha: 0.3
      - step: deadband        # report by exception: only changes of at least ``abs``...
        abs: 0.5
        heartbeat: 60s        # ...but every point at least this often, and any quality change

Contract of a step (:class:`Step`): ``apply(device, readings)`` is called on
the agent's loop once per poll with that poll's readings, in order, and
returns the readings to keep (possibly changed). State is per
``(device, point)`` and lives in the step object; nothing blocks.

Local alarms are evaluated *before* these steps, on the raw readings, so a
deadband or smoothing never delays or hides an alarm.

>>> from parkwatch.wire.frames import Reading
>>> steps = build_steps([DeadbandConfig(step="deadband", abs=0.5, heartbeat="10s")])
>>> kept = [apply_steps(steps, "d", [Reading("p", t, v, "good")]) for t, v in
...         [(0, 1.0), (1000, 1.2), (2000, 1.6), (3000, 1.6), (13000, 1.6)]]
>>> [r[0].value if r else None for r in kept]
[1.0, None, 1.6, None, 1.6]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal, Protocol, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parkwatch.durations import Duration
from parkwatch.wire.frames import Reading

__all__ = [
    "DeadbandConfig",
    "PreprocessStep",
    "RangeConfig",
    "SmoothingConfig",
    "Step",
    "apply_steps",
    "build_steps",
    "known_steps",
]


class _StepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: Limit the step to these devices / points; empty means all.
    devices: list[str] = Field(default_factory=list)
    points: list[str] = Field(default_factory=list)

    def selects(self, device: str, point: str) -> bool:
        return (not self.devices or device in self.devices) and (not self.points or point in self.points)


class RangeConfig(_StepConfig):
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


class SmoothingConfig(_StepConfig):
    step: Literal["smoothing"]
    alpha: float = Field(gt=0, le=1)


class DeadbandConfig(_StepConfig):
    step: Literal["deadband"]
    abs: float = Field(ge=0)
    heartbeat_s: Duration = Field(default=60.0, alias="heartbeat")


class Step(Protocol):
    """A preprocessing step; see the module docstring for the call contract."""

    def apply(self, device: str, readings: list[Reading]) -> list[Reading]: ...


class _Range:
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


class _Smoothing:
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


class _Deadband:
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


_REGISTRY: dict[str, Callable[..., Step]] = {
    "range": _Range,
    "smoothing": _Smoothing,
    "deadband": _Deadband,
}

if TYPE_CHECKING:
    PreprocessStep = RangeConfig | SmoothingConfig | DeadbandConfig
else:
    _Union = Union[RangeConfig, SmoothingConfig, DeadbandConfig]  # noqa: UP007
    PreprocessStep = Annotated[_Union, Field(discriminator="step")]


def known_steps() -> list[str]:
    return sorted(_REGISTRY)


def build_steps(configs: list[PreprocessStep]) -> list[Step]:
    """One step object per config entry, in order."""
    return [_REGISTRY[c.step](c) for c in configs]


def apply_steps(steps: list[Step], device: str, readings: list[Reading]) -> list[Reading]:
    for step in steps:
        readings = step.apply(device, readings)
    return readings
