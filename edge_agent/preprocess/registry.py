"""Preprocessing steps by name: ``step: deadband`` in a gateway config picks an entry here.

Each step module registers its config model and implementation with
:func:`register`, and ``edge_agent/preprocess/__init__.py`` imports every
step module explicitly; nothing scans directories. The registry is filled
at import time and only read afterwards, exactly like
:mod:`edge_agent.drivers.registry`.

Contract of a step (:class:`Step`), as the agent calls it:

- ``apply(device, readings)`` runs on the agent's event loop once per poll
  (or pushed message) with that batch's readings, in order, and returns the
  readings to keep (possibly changed, possibly new ones such as a window's
  aggregates). It never blocks.
- ``flush(now_ms)`` runs on the same loop at every frame tick with the wall
  clock (epoch ms), and once at shutdown with ``None``; it returns readings a
  step held back and that are now due (closed windows), as
  ``[(device, readings)]``. Most steps hold nothing back and return ``[]``.

State is per ``(device, point)`` and lives in the step object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from parkwatch.errors import ConfigError
from parkwatch.wire.frames import Reading

__all__ = [
    "StepConfig",
    "Step",
    "StepBase",
    "StepSpec",
    "register",
    "lookup",
    "known_steps",
    "config_models",
    "build_steps",
    "apply_steps",
    "flush_steps",
]


class StepConfig(BaseModel):
    """Fields every step entry has; each step's config model extends this with ``step: Literal[name]``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    step: str
    #: Limit the step to these devices / points; empty means all.
    devices: list[str] = Field(default_factory=list)
    points: list[str] = Field(default_factory=list)

    def selects(self, device: str, point: str) -> bool:
        return (not self.devices or device in self.devices) and (not self.points or point in self.points)


class Step(Protocol):
    """A preprocessing step; see the module docstring for the call contract."""

    def apply(self, device: str, readings: list[Reading]) -> list[Reading]: ...

    def flush(self, now_ms: int | None) -> list[tuple[str, list[Reading]]]: ...


class StepBase:
    """Default ``flush`` for steps that hold nothing back."""

    def flush(self, now_ms: int | None) -> list[tuple[str, list[Reading]]]:
        return []


#: Builds a step from its validated config (of the step's own model); must not do I/O.
StepFactory = Callable[[Any], Step]
_F = TypeVar("_F", bound=StepFactory)


@dataclass(frozen=True, slots=True)
class StepSpec:
    name: str
    config_model: type[StepConfig]
    build: StepFactory


_REGISTRY: dict[str, StepSpec] = {}


def register(name: str, config_model: type[StepConfig]) -> Callable[[_F], _F]:
    """Class decorator: make the decorated class (built from a ``config_model``) the step ``name``."""

    def decorate(factory: _F) -> _F:
        if name in _REGISTRY:
            raise RuntimeError(f"preprocessing step {name!r} registered twice")
        _REGISTRY[name] = StepSpec(name, config_model, factory)
        return factory

    return decorate


def lookup(name: str) -> StepSpec:
    """The step called ``name``; :class:`ConfigError` listing the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(known_steps())
        raise ConfigError(f"unknown preprocessing step {name!r}; known steps: {known}") from None


def known_steps() -> list[str]:
    """Registered step names, sorted."""
    return sorted(_REGISTRY)


def config_models() -> list[type[StepConfig]]:
    """Every registered step's config model, in name order."""
    return [_REGISTRY[name].config_model for name in known_steps()]


def build_steps(configs: list[StepConfig]) -> list[Step]:
    """One step object per config entry, in order."""
    return [lookup(c.step).build(c) for c in configs]


def apply_steps(steps: list[Step], device: str, readings: list[Reading]) -> list[Reading]:
    """Run ``readings`` through every step in order."""
    for step in steps:
        if not readings:
            break
        readings = step.apply(device, readings)
    return readings


def flush_steps(steps: list[Step], now_ms: int | None) -> list[tuple[str, list[Reading]]]:
    """What the steps release at ``now_ms`` (``None``: everything), run through the steps after them."""
    out: list[tuple[str, list[Reading]]] = []
    for index, step in enumerate(steps):
        for device, readings in step.flush(now_ms):
            kept = apply_steps(steps[index + 1 :], device, readings)
            if kept:
                out.append((device, kept))
    return out
