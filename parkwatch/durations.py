"""Durations with units (``"500ms"``, ``"1s"``, ``"2m"``), parsed once at config load.

Config files say how long with a unit so nobody has to guess whether ``5`` is
seconds or milliseconds; code holds plain float seconds in fields named
``*_s``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

import click
from pydantic import BeforeValidator

__all__ = ["parse_duration", "Duration", "click_duration"]

_UNITS_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")


def parse_duration(value: Any, *, bare_seconds: bool = False) -> float:
    """Seconds in a duration like ``"500ms"``, ``"1.5s"``, ``"2m"`` or ``"1h"``; must be > 0.

    A bare number is refused unless ``bare_seconds`` (command lines that say
    "seconds" in their help), because in a config file it is ambiguous.

    >>> parse_duration("500ms"), parse_duration("2m"), parse_duration("30", bare_seconds=True)
    (0.5, 120.0, 30.0)
    >>> parse_duration("5")
    Traceback (most recent call last):
    ...
    ValueError: duration '5' needs a unit: ms, s, m or h (e.g. '500ms', '1s')
    """
    if isinstance(value, bool):
        raise ValueError(f"duration must be a string like '1s', not {value!r}")
    if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        if not bare_seconds:
            raise ValueError(f"duration '{value}' needs a unit: ms, s, m or h (e.g. '500ms', '1s')")
        seconds = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise ValueError(f"duration {value!r} is not a number with a unit ms, s, m or h (e.g. '500ms')")
        seconds = float(match.group(1)) * _UNITS_S[match.group(2)]
    else:
        raise ValueError(f"duration must be a string like '1s', not {type(value).__name__}")
    if not seconds > 0:
        raise ValueError(f"duration {value!r} must be greater than zero")
    return seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: A pydantic field type: accepts ``"500ms"``-style strings, holds float seconds.
Duration = Annotated[float, BeforeValidator(parse_duration)]


def click_duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A click option callback: ``--duration 30`` (seconds) or ``30s``/``5m``; ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        return parse_duration(value, bare_seconds=True)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
