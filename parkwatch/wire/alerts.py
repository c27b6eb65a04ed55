"""Alert events on the Kafka ``alerts`` topic (key = alert id).

Every alert and every change of its state is one event; consumers (the cloud
API) upsert by ``id`` and keep the newest ``updated_ms``. Ids are derived from
what the incident is, never random, so a replayed backlog or a restarted
worker re-emits the same id instead of a duplicate alert::

    {"v": 1, "id": "3f2a...", "state": "open", "kind": "anomaly", "rule": "anomaly_score",
     "severity": "warning", "site": "north", "gateway": "gw-01", "device": "gas-01",
     "point": "ch4", "started_ms": 1764189600000, "updated_ms": 1764189600000,
     "value": 87.1, "score": 0.998, "expected_low": 10.2, "expected_high": 14.9,
     "message": "ch4 = 87.1, expected 10.2..14.9", "group": null, "escalation": 0}

``kind``: ``anomaly`` (the anomaly score), ``limit``, ``predicted``, ``rate``,
``stale``, ``score`` and ``gateway`` (monitoring rules, ``rule`` = the rule's
id; gateway alerts have empty ``device`` and ``point``), and ``flood`` (an
incident grouping a burst of alerts at one site; its members carry its id in
``group``). ``escalation`` counts how often the alert was escalated for
staying unacknowledged. Readers of events without ``group``/``escalation``
(written before they existed) take ``null`` and ``0``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Final, Literal, get_args

from parkwatch.errors import FrameError

__all__ = ["ALERT_VERSION", "AlertState", "Severity", "AlertEvent", "alert_id"]

ALERT_VERSION: Final = 1
AlertState = Literal["open", "acknowledged", "resolved", "shelved", "suppressed"]
Severity = Literal["info", "warning", "critical"]


def alert_id(site: str, gateway: str, device: str, point: str, rule: str, started_ms: int) -> str:
    """Deterministic id of one incident: the same sensor, rule and start give the same id.

    >>> alert_id("north", "gw-01", "gas-01", "ch4", "anomaly_score", 1764189600000)
    '44387c5e46e96a6e76ab5323'
    """
    text = f"{site}/{gateway}/{device}/{point}/{rule}/{started_ms}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(slots=True)
class AlertEvent:
    """One alert, as of one state change."""

    id: str
    state: AlertState
    kind: str
    rule: str
    severity: Severity
    site: str
    gateway: str
    device: str
    point: str
    started_ms: int
    updated_ms: int
    value: float | None
    score: float | None
    expected_low: float | None
    expected_high: float | None
    message: str
    group: str | None = None
    escalation: int = 0

    def encode(self) -> bytes:
        # Not dataclasses.asdict: its deep copy of flat fields was a fifth of an API's apply.
        doc = {"v": ALERT_VERSION, **{name: getattr(self, name) for name in _FIELDS}}
        return json.dumps(doc, allow_nan=False).encode()

    @classmethod
    def decode(cls, data: bytes | None) -> AlertEvent:
        """Parse and check an event; every way it can be wrong is one :class:`FrameError`.

        Reasons: ``empty``, ``not_json``, ``bad_version``, ``bad_fields``
        (not an object, missing or unknown fields) and ``bad_value`` (a type,
        state or severity outside the contract, NaN, or an integer a 64-bit
        column cannot hold), so a consumer can count it and go on.

        >>> AlertEvent.decode(b"not json")
        Traceback (most recent call last):
        ...
        parkwatch.errors.FrameError: not_json: Expecting value: line 1 column 1 (char 0)
        """
        if not data:
            raise FrameError("empty", "record has no value")
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FrameError("not_json", str(exc)) from exc
        if not isinstance(doc, dict):
            raise FrameError("bad_fields", f"event is a {type(doc).__name__}, not an object")
        if doc.pop("v", None) != ALERT_VERSION:
            raise FrameError("bad_version", f"this reader knows alert event version {ALERT_VERSION}")
        try:
            event = cls(**doc)
        except TypeError as exc:
            raise FrameError("bad_fields", str(exc)) from exc
        event._check()
        return event

    def _check(self) -> None:
        for name in _STR_FIELDS:
            if not isinstance(getattr(self, name), str):
                raise FrameError("bad_value", f"{name} must be a string")
        if not self.id:
            raise FrameError("bad_value", "id must not be empty")
        if self.state not in _STATES:
            raise FrameError("bad_value", f"state {self.state!r} is not one of {sorted(_STATES)}")
        if self.severity not in _SEVERITIES:
            raise FrameError("bad_value", f"severity {self.severity!r} is not one of {sorted(_SEVERITIES)}")
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= _MAX_INT:
                raise FrameError("bad_value", f"{name} must be a non-negative 64-bit integer, got {value!r}")
        if self.group is not None and (not isinstance(self.group, str) or not self.group):
            raise FrameError("bad_value", "group must be a non-empty string or null")
        if type(self.escalation) is not int or not 0 <= self.escalation <= 1000:
            raise FrameError("bad_value", f"escalation must be an integer 0..1000, got {self.escalation!r}")
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            # json.loads accepts NaN and Infinity, which JSON responses cannot carry, and
            # integers of any size, which a database column cannot.
            finite_float = type(value) is float and math.isfinite(value)
            if not (finite_float or (type(value) is int and abs(value) <= _MAX_INT)):
                raise FrameError("bad_value", f"{name} must be a finite number or null, got {value!r}")


_STATES: Final = frozenset(get_args(AlertState))
_SEVERITIES: Final = frozenset(get_args(Severity))
_FIELDS: Final = tuple(f.name for f in fields(AlertEvent))
_INT_FIELDS: Final = ("started_ms", "updated_ms")
_FLOAT_FIELDS: Final = ("value", "score", "expected_low", "expected_high")
#: SQLite and PostgreSQL BIGINT both stop at a signed 64-bit integer.
_MAX_INT: Final = 2**63 - 1
_STR_FIELDS: Final = tuple(
    name for name in _FIELDS
    if name not in _INT_FIELDS and name not in _FLOAT_FIELDS and name not in ("group", "escalation")
)
