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
      - step: aggregate       # min/max/mean per 10 s window instead of every reading
        points: [flow]
        window: 10s
        emit: [min, max, mean]
      - step: deadband        # report by exception: only changes of at least ``abs``...
        abs: 0.5
        heartbeat: 60s        # ...but every point at least this often, and any quality change

One module per step registers itself (``@register("deadband", DeadbandConfig)``,
:mod:`edge_agent.preprocess.registry`); this package imports each explicitly.
The call contract is in :mod:`~edge_agent.preprocess.registry`.

Local alarms are evaluated *before* these steps, on the raw readings, so a
deadband, smoothing or aggregate never delays or hides an alarm.

>>> from parkwatch.wire.frames import Reading
>>> steps = build_steps([DeadbandConfig(step="deadband", abs=0.5, heartbeat="10s")])
>>> kept = [apply_steps(steps, "d", [Reading("p", t, v, "good")]) for t, v in
...         [(0, 1.0), (1000, 1.2), (2000, 1.6), (3000, 1.6), (13000, 1.6)]]
>>> [r[0].value if r else None for r in kept]
[1.0, None, 1.6, None, 1.6]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from edge_agent.preprocess import (
    aggregate,  # noqa: F401  (registers "aggregate")
    deadband,  # noqa: F401  (registers "deadband")
    range_check,  # noqa: F401  (registers "range")
    smoothing,  # noqa: F401  (registers "smoothing")
)
from edge_agent.preprocess.aggregate import AggregateConfig, WindowAggregate
from edge_agent.preprocess.deadband import Deadband, DeadbandConfig
from edge_agent.preprocess.range_check import RangeCheck, RangeConfig
from edge_agent.preprocess.registry import (
    Step,
    StepBase,
    StepConfig,
    apply_steps,
    build_steps,
    config_models,
    flush_steps,
    known_steps,
    register,
)
from edge_agent.preprocess.smoothing import Smoothing, SmoothingConfig

__all__ = [
    "AggregateConfig",
    "Deadband",
    "DeadbandConfig",
    "PreprocessStep",
    "RangeCheck",
    "RangeConfig",
    "Smoothing",
    "SmoothingConfig",
    "Step",
    "StepBase",
    "StepConfig",
    "WindowAggregate",
    "apply_steps",
    "build_steps",
    "flush_steps",
    "known_steps",
    "register",
]

if TYPE_CHECKING:
    PreprocessStep = StepConfig
else:
    # The union of every registered step's config, picked by the ``step`` key.
    PreprocessStep = Annotated[Union[tuple(config_models())], Field(discriminator="step")]  # noqa: UP007
