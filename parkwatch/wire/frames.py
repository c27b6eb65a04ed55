"""The frame: what a gateway publishes on ``parkwatch/<site>/<gateway>/data``.

A frame carries many readings, grouped by device, so that one MQTT message
moves hundreds of readings (one message per reading cannot reach 100,000
readings/s). Schema version 1, JSON::

    {
      "v": 1,
      "site": "north", "gateway": "gw-01",
      "seq": 42,                     # per gateway, +1 per frame, survives restarts
      "sent_ms": 1764189600123,      # gateway clock when the frame was built
      "devices": [
        {"device": "gas-01",
         "readings": [["ch4", 1764189600000, 12.5, "good"],
                      ["h2s", 1764189600000, null, "comm_loss"]]}
      ]
    }

A reading is ``[point, ts_ms, value, quality]``: event time in integer
milliseconds since the epoch (UTC), a finite number (``null`` only when the
quality is not ``good``), and one of :data:`QUALITIES`. NaN and infinities are
not JSON and are rejected, as is anything else outside this schema.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from parkwatch.errors import FrameError
from parkwatch.wire.topics import ID_PATTERN

__all__ = [
    "FRAME_VERSION",
    "MAX_FRAME_BYTES",
    "QUALITIES",
    "Reading",
    "DeviceBatch",
    "Frame",
    "encode_frame",
    "decode_frame",
]

FRAME_VERSION: Final = 1
#: Default upper bound of an encoded frame; larger payloads are rejected as ``oversize``.
MAX_FRAME_BYTES: Final = 1_048_576
#: good: a valid measurement; bad: the device reported a fault or the value is out of range;
#: stale: the value has not changed source for too long; comm_loss: the device did not answer.
QUALITIES: Final = frozenset({"good", "bad", "stale", "comm_loss"})
# Plausible event time window: 2001-09-09 .. 2286-11-20 in ms. Catches seconds/ns mix-ups.
_TS_MIN: Final = 1_000_000_000_000
_TS_MAX: Final = 9_999_999_999_999


class Reading(NamedTuple):
    """One measurement of one point at one instant."""

    point: str
    ts_ms: int
    value: float | None
    quality: str


@dataclass(slots=True)
class DeviceBatch:
    """The readings of one device within a frame."""

    device: str
    readings: list[Reading] = field(default_factory=list)


@dataclass(slots=True)
class Frame:
    """A decoded, validated frame."""

    site: str
    gateway: str
    seq: int
    sent_ms: int
    devices: list[DeviceBatch]

    @property
    def reading_count(self) -> int:
        return sum(len(d.readings) for d in self.devices)


def encode_frame(frame: Frame) -> bytes:
    """Serialise a frame; the inverse of :func:`decode_frame`.

    >>> f = Frame("north", "gw-01", 1, 1764189600123,
    ...           [DeviceBatch("gas-01", [Reading("ch4", 1764189600000, 12.5, "good")])])
    >>> decode_frame(encode_frame(f)) == f
    True
    """
    doc = {
        "v": FRAME_VERSION,
        "site": frame.site,
        "gateway": frame.gateway,
        "seq": frame.seq,
        "sent_ms": frame.sent_ms,
        "devices": [
            {"device": d.device, "readings": [list(r) for r in d.readings]} for d in frame.devices
        ],
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def _reject_constant(name: str) -> Any:
    raise FrameError("nan", f"{name} is not a number JSON allows")


def _id(doc: dict[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise FrameError("schema", f"{where}.{key} must be an id matching {ID_PATTERN.pattern}")
    return value


def _int(doc: dict[str, Any], key: str, low: int, high: int) -> int:
    value = doc.get(key)
    if type(value) is not int or not low <= value <= high:
        raise FrameError("schema", f"{key} must be an integer in [{low}, {high}]")
    return value


def decode_frame(payload: bytes | bytearray, max_bytes: int = MAX_FRAME_BYTES) -> Frame:
    """Parse and validate a frame, raising :class:`FrameError` with a reason code.

    Reasons: ``oversize``, ``not_json``, ``nan``, ``not_object``,
    ``unknown_version``, ``schema`` (the detail names the offending field).
    """
    if len(payload) > max_bytes:
        raise FrameError("oversize", f"{len(payload)} bytes > limit {max_bytes}")
    try:
        doc = json.loads(payload, parse_constant=_reject_constant)
    except FrameError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError("not_json", str(exc)[:200]) from exc
    if not isinstance(doc, dict):
        raise FrameError("not_object", f"top level is {type(doc).__name__}")
    if doc.get("v") != FRAME_VERSION:
        raise FrameError("unknown_version", f"v={doc.get('v')!r}, this reader knows {FRAME_VERSION}")
    site = _id(doc, "site", "frame")
    gateway = _id(doc, "gateway", "frame")
    seq = _int(doc, "seq", 0, 2**63 - 1)
    sent_ms = _int(doc, "sent_ms", _TS_MIN, _TS_MAX)
    raw_devices = doc.get("devices")
    if not isinstance(raw_devices, list):
        raise FrameError("schema", "devices must be a list")
    devices = [_decode_device(d, i) for i, d in enumerate(raw_devices)]
    return Frame(site, gateway, seq, sent_ms, devices)


def _decode_device(doc: Any, index: int) -> DeviceBatch:
    where = f"devices[{index}]"
    if not isinstance(doc, dict):
        raise FrameError("schema", f"{where} must be an object")
    device = _id(doc, "device", where)
    rows = doc.get("readings")
    if not isinstance(rows, list):
        raise FrameError("schema", f"{where}.readings must be a list")
    readings: list[Reading] = []
    append = readings.append
    match_id = ID_PATTERN.match
    for j, row in enumerate(rows):
        # One tight check per reading: this loop runs 100,000 times a second.
        if type(row) is not list or len(row) != 4:
            raise FrameError("schema", f"{where}.readings[{j}] must be [point, ts_ms, value, quality]")
        point, ts_ms, value, quality = row
        if type(point) is not str or not match_id(point):
            raise FrameError("schema", f"{where}.readings[{j}] point must be an id")
        if type(ts_ms) is not int or not _TS_MIN <= ts_ms <= _TS_MAX:
            raise FrameError("schema", f"{where}.readings[{j}] ts_ms must be epoch milliseconds")
        if quality not in QUALITIES:
            raise FrameError("schema", f"{where}.readings[{j}] quality must be one of {sorted(QUALITIES)}")
        vt = type(value)
        if vt is float:
            if not math.isfinite(value):  # unreachable via JSON, but frames can be built in code
                raise FrameError("nan", f"{where}.readings[{j}] value is not finite")
        elif vt is int:
            value = float(value)
        elif value is None:
            if quality == "good":
                raise FrameError("schema", f"{where}.readings[{j}] a good reading needs a value")
        else:
            raise FrameError("schema", f"{where}.readings[{j}] value must be a number or null")
        append(Reading(point, ts_ms, value, quality))
    return DeviceBatch(device, readings)
