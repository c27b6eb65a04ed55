"""Detectors by name: each detector module registers its class with :func:`register`.

The package ``__init__`` imports every detector module explicitly, so the
registry is complete as soon as :mod:`stream_processor.detectors` is imported;
nothing scans directories. An unknown name or bad parameters fail at config
load with a :class:`~parkwatch.errors.ConfigError` that lists what is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from parkwatch.errors import ConfigError
from stream_processor.detectors.base import DetectorBase

__all__ = ["register", "create_detector", "detector_names", "detector_class"]

_D = TypeVar("_D", bound=type[DetectorBase])
_DETECTORS: dict[str, type[DetectorBase]] = {}


def register(name: str) -> Callable[[_D], _D]:
    """Class decorator: make a detector available under ``name``."""

    def add(cls: _D) -> _D:
        if name in _DETECTORS and _DETECTORS[name] is not cls:
            raise ValueError(f"detector name {name!r} is taken by {_DETECTORS[name].__qualname__}")
        _DETECTORS[name] = cls
        return cls

    return add


def detector_names() -> list[str]:
    """Registered names, sorted."""
    return sorted(_DETECTORS)


def detector_class(name: str) -> type[DetectorBase]:
    """The class registered under ``name``; :class:`ConfigError` naming the known ones otherwise."""
    try:
        return _DETECTORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown detector {name!r}; known detectors: {', '.join(detector_names())}"
        ) from None


def create_detector(name: str, params: Mapping[str, Any] | None = None) -> DetectorBase:
    """A new, unlearned detector; bad parameters become a :class:`ConfigError`."""
    cls = detector_class(name)
    try:
        return cls(**dict(params or {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"detector {name!r}: invalid parameters {dict(params or {})}: {exc}") from exc
