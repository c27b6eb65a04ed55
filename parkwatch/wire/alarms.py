"""A local alarm: what a gateway publishes on ``parkwatch/<site>/<gateway>/alarm``.

Gateways evaluate limit rules on every reading (see ``edge_agent/alarms.py``)
and publish each state change at once, QoS 1, ahead of ordinary data, even
after an outage (they wait in the gateway's outbox). Schema version 1, JSON::

    {"v": 1, "site": "north", "gateway": "north-gw1", "device": "gas-01", "point": "ch4",
     "rule": "ch4-high-1", "kind": "high", "level": 1, "state": "raised",
     "value": 27.5, "limit": 25.0, "ts_ms": 1764189600000, "seq": 7}

- ``kind``: ``high`` (value above ``limit``) or ``low`` (below it); ``level``:
  1 for a first-level alarm, 2 for a second-level one (GB/T 50493: e.g.
  25 and 50 %LEL).
- ``state``: ``raised`` when the condition held for the rule's delay;
  ``cleared`` once the value is back past ``limit`` by the rule's hysteresis.
  ``value`` and ``ts_ms`` are of the reading that changed the state (event time).
- ``seq``: per gateway, +1 per alarm event, a sequence separate from the data
  frames' one; delivery is at-least-once, so receivers drop repeats by
  ``(site, gateway, seq)``. After a gateway restart a still-active alarm is
  raised again (with a new seq): alarm state is not kept across restarts.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from parkwatch.errors import FrameError
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["ALARM_VERSION", "ALARM_KINDS", "ALARM_STATES", "AlarmEvent", "encode_alarm", "decode_alarm"]

ALARM_VERSION: Final = 1
ALARM_KINDS: Final = ("high", "low")
ALARM_STATES: Final = ("raised", "cleared")

_TS_MIN: Final = 1_000_000_000_000
_TS_MAX: Final = 9_999_999_999_999


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One alarm state change of one rule.

    >>> e = AlarmEvent("north", "gw-01", "gas-01", "ch4", "ch4-high-1", "high", 1, "raised",
    ...                27.5, 25.0, 1764189600000, 7)
    >>> decode_alarm(encode_alarm(e)) == e
    True
    """

    site: str
    gateway: str
    device: str
    point: str
    rule: str
    kind: Literal["high", "low"]
    level: int
    state: Literal["raised", "cleared"]
    value: float
    limit: float
    ts_ms: int
    seq: int


def encode_alarm(event: AlarmEvent) -> bytes:
    """Serialise an alarm event; the inverse of :func:`decode_alarm`."""
    return json.dumps({"v": ALARM_VERSION, **asdict(event)}, separators=(",", ":"), allow_nan=False).encode()


def decode_alarm(payload: bytes | bytearray) -> AlarmEvent:
    """Parse and check an alarm event; :class:`~parkwatch.errors.FrameError` with a reason code otherwise."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError("not_json", str(exc)[:200]) from exc
    if not isinstance(doc, dict):
        raise FrameError("not_object", f"top level is {type(doc).__name__}")
    if doc.get("v") != ALARM_VERSION:
        raise FrameError("unknown_version", f"v={doc.get('v')!r}, this reader knows {ALARM_VERSION}")
    for key in ("site", "gateway", "device", "point", "rule"):
        if not isinstance(doc.get(key), str) or not ID_PATTERN.match(doc[key]):
            raise FrameError("schema", f"alarm.{key} must be an id matching {ID_PATTERN.pattern}")
    if doc.get("kind") not in ALARM_KINDS:
        raise FrameError("schema", f"alarm.kind must be one of {list(ALARM_KINDS)}")
    if doc.get("state") not in ALARM_STATES:
        raise FrameError("schema", f"alarm.state must be one of {list(ALARM_STATES)}")
    if type(doc.get("level")) is not int or not 1 <= doc["level"] <= 9:
        raise FrameError("schema", "alarm.level must be an integer in [1, 9]")
    for key in ("value", "limit"):
        if type(doc.get(key)) not in (int, float) or not math.isfinite(doc[key]):
            raise FrameError("schema", f"alarm.{key} must be a finite number")
    if type(doc.get("ts_ms")) is not int or not _TS_MIN <= doc["ts_ms"] <= _TS_MAX:
        raise FrameError("schema", "alarm.ts_ms must be epoch milliseconds")
    if type(doc.get("seq")) is not int or doc["seq"] < 0:
        raise FrameError("schema", "alarm.seq must be a non-negative integer")
    fields: dict[str, Any] = {k: doc[k] for k in AlarmEvent.__dataclass_fields__}
    fields["value"], fields["limit"] = float(fields["value"]), float(fields["limit"])
    return AlarmEvent(**fields)
