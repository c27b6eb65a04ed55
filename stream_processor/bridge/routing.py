"""What one MQTT message becomes on Kafka: records, or one dead letter.

Pure and synchronous, so it is unit-tested without brokers. Checks, in order:
the topic must follow the scheme (``bad_topic``); the payload must decode
(:func:`~parkwatch.wire.frames.decode_frame`'s reasons: ``oversize``,
``not_json``, ``nan``, ``not_object``, ``unknown_version``, ``schema``; the
same codes for alarms and status); the payload's site and gateway must be the
topic's (``topic_mismatch``: a gateway must not speak for another).

- ``data``: a valid frame becomes one ``readings`` record per device with
  readings, keyed by device; ``seq_key``/``seq`` name it for the seq tracker.
- ``alarm``: a valid alarm becomes one ``alarms`` record keyed by gateway.
- ``status``: a valid status becomes no record, only ``status`` (the bridge
  turns changes into gateway events); an empty payload (a retained status
  being cleared) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from parkwatch.errors import FrameError
from parkwatch.wire.alarms import decode_alarm, encode_alarm
from parkwatch.wire.events import KAFKA_ALARMS, GatewayStatus, decode_status
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
    """The outcome for one MQTT message: ``reason`` is None when the payload was accepted.

    ``seq_key`` (``<site>/<gateway>/data`` or ``.../alarm``) and ``seq`` are set for
    accepted frames and alarms; ``status`` for an accepted status message.
    """

    records: list[OutgoingRecord] = field(default_factory=list)
    reason: str | None = None
    detail: str = ""
    seq_key: str | None = None
    seq: int | None = None
    status: GatewayStatus | None = None


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
    def dead(reason: str, detail: str, key: str) -> Routed:
        return _dead(reason, detail, topic, key, payload, received_ms, deadletter_payload_bytes)

    parsed = parse_mqtt_topic(topic)
    if parsed is None:
        return dead(BAD_TOPIC, "topic does not follow parkwatch/<site>/<gateway>/<data|alarm|status>", topic)
    origin = f"{parsed.site}/{parsed.gateway}"
    try:
        if parsed.channel == "data":
            frame = decode_frame(payload, max_frame_bytes)
            site, gateway = frame.site, frame.gateway
        elif len(payload) > max_frame_bytes:
            raise FrameError("oversize", f"{len(payload)} bytes > limit {max_frame_bytes}")
        elif parsed.channel == "alarm":
            alarm = decode_alarm(payload)
            site, gateway = alarm.site, alarm.gateway
        elif not payload:
            return Routed()
        else:
            status = decode_status(payload)
            site, gateway = status.site, status.gateway
    except FrameError as exc:
        return dead(exc.reason, exc.detail, origin)
    if site != parsed.site or gateway != parsed.gateway:
        return dead(TOPIC_MISMATCH, f"payload says {site}/{gateway}, topic says {origin}", origin)
    if parsed.channel == "data":
        records = [
            OutgoingRecord(KAFKA_READINGS, record.key.encode(), record.encode(), len(record.readings))
            for record in split_frame(frame)
        ]
        return Routed(records, seq_key=f"{origin}/data", seq=frame.seq)
    if parsed.channel == "alarm":
        record = OutgoingRecord(KAFKA_ALARMS, origin.encode(), encode_alarm(alarm))
        return Routed([record], seq_key=f"{origin}/alarm", seq=alarm.seq)
    return Routed(status=status)
