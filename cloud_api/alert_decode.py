"""Decoding a record of the ``alerts`` topic into an :class:`AlertEvent` the store can trust.

:meth:`AlertEvent.decode` parses the contract but checks neither the enumerated
strings nor the field types, and fails with whatever ``json`` or the dataclass
constructor raise. Here every way a record can be wrong becomes one
:class:`~parkwatch.errors.FrameError` with a short reason, so the consumer can
count it, log it and go on.

>>> decode_alert_event(b"not json")
Traceback (most recent call last):
...
parkwatch.errors.FrameError: not_json: Expecting value: line 1 column 1 (char 0)
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from typing import Final, get_args

from parkwatch.errors import FrameError
from parkwatch.wire.alerts import AlertEvent, AlertState, Severity

__all__ = ["decode_alert_event"]

_STATES: Final = frozenset(get_args(AlertState))
_SEVERITIES: Final = frozenset(get_args(Severity))
_INT_FIELDS: Final = ("started_ms", "updated_ms")
_FLOAT_FIELDS: Final = ("value", "score", "expected_low", "expected_high")
#: SQLite and PostgreSQL BIGINT both stop at a signed 64-bit integer.
_MAX_INT: Final = 2**63 - 1
_STR_FIELDS: Final = tuple(
    f.name for f in fields(AlertEvent) if f.name not in _INT_FIELDS and f.name not in _FLOAT_FIELDS
)


def decode_alert_event(data: bytes | None) -> AlertEvent:
    """The event in ``data``; :class:`FrameError` (reason ``empty``, ``not_json``,
    ``bad_version``, ``bad_fields`` or ``bad_value``) if it is not a valid one."""
    if not data:
        raise FrameError("empty", "record has no value")
    try:
        event = AlertEvent.decode(data)
    except json.JSONDecodeError as exc:
        raise FrameError("not_json", str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise FrameError("not_json", str(exc)) from exc
    except ValueError as exc:
        raise FrameError("bad_version", str(exc)) from exc
    except (TypeError, AttributeError) as exc:
        # AttributeError: the JSON is not an object; TypeError: missing or unknown fields.
        raise FrameError("bad_fields", str(exc)) from exc
    _check_values(event)
    return event


def _check_values(event: AlertEvent) -> None:
    for name in _STR_FIELDS:
        if not isinstance(getattr(event, name), str):
            raise FrameError("bad_value", f"{name} must be a string")
    if not event.id:
        raise FrameError("bad_value", "id must not be empty")
    if event.state not in _STATES:
        raise FrameError("bad_value", f"state {event.state!r} is not one of {sorted(_STATES)}")
    if event.severity not in _SEVERITIES:
        raise FrameError("bad_value", f"severity {event.severity!r} is not one of {sorted(_SEVERITIES)}")
    for name in _INT_FIELDS:
        value = getattr(event, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_INT:
            raise FrameError("bad_value", f"{name} must be a non-negative 64-bit integer, got {value!r}")
    for name in _FLOAT_FIELDS:
        value = getattr(event, name)
        if value is None:
            continue
        # json.loads accepts NaN and Infinity, which JSON responses cannot carry, and
        # integers of any size, which the database cannot.
        if isinstance(value, bool) or not (
            (isinstance(value, float) and math.isfinite(value))
            or (isinstance(value, int) and abs(value) <= _MAX_INT)
        ):
            raise FrameError("bad_value", f"{name} must be a finite number or null, got {value!r}")
