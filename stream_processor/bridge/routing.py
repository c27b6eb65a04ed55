"""What one MQTT message becomes on Kafka: device records, or one dead letter.

Pure and synchronous, so it is unit-tested without brokers. Checks, in order:
the topic must follow the scheme and be a ``data`` channel (``bad_topic``); the
payload must decode (:func:`~parkwatch.wire.frames.decode_frame`'s reasons:
``oversize``, ``not_json``, ``nan``, ``not_object``, ``unknown_version``,
``schema``); the frame's site and gateway must be the topic's
(``topic_mismatch``: a gateway must not speak for another). A valid frame
becomes one ``readings`` record per device with readings, keyed by device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from parkwatch.errors import FrameError
from parkwatch.wire.frames import decode_frame
from parkwatch.wire.records import DeadLetter, split_frame
from parkwatch.wire.topics import KAFKA_DEADLETTER, KAFKA_READINGS, parse_mqtt_topic

__all__ = ["BAD_TOPIC", "TOPIC_MISMATCH", "OutgoingRecord", "Routed", "route_message"]

BAD_TOPIC: Final = "bad_topic"
TOPIC_MISMATCH: Final = "topic_mismatch"


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A Kafka record to produce; ``readings`` counts the readings it carries."""

    topic: str
    key: bytes
    value: bytes
    readings: int = 0


@dataclass(slots=True)
class Routed:
    """The outcome for one MQTT message: ``reason`` is None when the frame was accepted."""

    records: list[OutgoingRecord] = field(default_factory=list)
    reason: str | None = None
    detail: str = ""


def _dead(
    reason: str, detail: str, topic: str, key: str, payload: bytes, received_ms: int, keep_bytes: int
) -> Routed:
    if len(payload) > keep_bytes:
        detail = f"{detail} (payload truncated to {keep_bytes} of {len(payload)} bytes)"
        payload = payload[:keep_bytes]
    letter = DeadLetter(reason, detail, topic, received_ms, payload)
    return Routed([OutgoingRecord(KAFKA_DEADLETTER, key.encode(), letter.encode())], reason, detail)


def route_message(
    topic: str,
    payload: bytes,
    received_ms: int,
    *,
    max_frame_bytes: int,
    deadletter_payload_bytes: int,
) -> Routed:
    """Route one MQTT message; never raises for bad input.

    >>> r = route_message("parkwatch/north/gw-01/data", b"{", 1764189600000,
    ...                   max_frame_bytes=1000, deadletter_payload_bytes=100)
    >>> r.reason, r.records[0].topic, r.records[0].key
    ('not_json', 'deadletter', b'north/gw-01')
    """
    parsed = parse_mqtt_topic(topic)
    if parsed is None or parsed.channel != "data":
        return _dead(
            BAD_TOPIC, "topic does not follow parkwatch/<site>/<gateway>/data", topic, topic,
            payload, received_ms, deadletter_payload_bytes,
        )
    origin = f"{parsed.site}/{parsed.gateway}"
    try:
        frame = decode_frame(payload, max_frame_bytes)
    except FrameError as exc:
        return _dead(exc.reason, exc.detail, topic, origin, payload, received_ms, deadletter_payload_bytes)
    if frame.site != parsed.site or frame.gateway != parsed.gateway:
        detail = f"frame says {frame.site}/{frame.gateway}, topic says {origin}"
        return _dead(TOPIC_MISMATCH, detail, topic, origin, payload, received_ms, deadletter_payload_bytes)
    return Routed(
        [
            OutgoingRecord(KAFKA_READINGS, record.key.encode(), record.encode(), len(record.readings))
            for record in split_frame(frame)
        ]
    )
