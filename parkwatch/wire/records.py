"""Kafka records the bridge derives from frames.

``readings``: one record per device per frame, key ``<site>/<gateway>/<device>``
(so each sensor's state lives in one partition), JSON value::

    {"v": 1, "site": "north", "gateway": "gw-01", "device": "gas-01", "seq": 42,
     "readings": [["ch4", 1764189600000, 12.5, "good"], ...]}

``deadletter``: one record per rejected MQTT payload, key ``<site>/<gateway>``
(or the raw topic when it does not parse), JSON value with the reason and the
raw bytes in base64 so nothing is lost for later inspection.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from parkwatch.errors import FrameError
from parkwatch.wire.frames import FRAME_VERSION, Frame, Reading
from parkwatch.wire.topics import device_key

__all__ = ["DeviceRecord", "split_frame", "decode_device_record", "DeadLetter"]


@dataclass(slots=True)
class DeviceRecord:
    """One device's readings from one frame, as carried on the ``readings`` topic."""

    site: str
    gateway: str
    device: str
    seq: int
    readings: list[Reading]

    @property
    def key(self) -> str:
        return device_key(self.site, self.gateway, self.device)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": FRAME_VERSION,
                "site": self.site,
                "gateway": self.gateway,
                "device": self.device,
                "seq": self.seq,
                "readings": self.readings,
            },
            separators=(",", ":"),
            allow_nan=False,
        ).encode()


def split_frame(frame: Frame) -> list[DeviceRecord]:
    """One record per device of a validated frame."""
    return [
        DeviceRecord(frame.site, frame.gateway, d.device, frame.seq, d.readings)
        for d in frame.devices
        if d.readings
    ]


def decode_device_record(payload: bytes) -> DeviceRecord:
    """Parse a ``readings`` record written by :meth:`DeviceRecord.encode`.

    The bridge validated the content already; this trusts field types and
    only guards the version.
    """
    doc = json.loads(payload)
    if doc.get("v") != FRAME_VERSION:
        raise FrameError("unknown_version", f"v={doc.get('v')!r}")
    readings = [Reading(*r) for r in doc["readings"]]
    return DeviceRecord(doc["site"], doc["gateway"], doc["device"], doc["seq"], readings)


@dataclass(slots=True)
class DeadLetter:
    """A payload the bridge refused, with why."""

    reason: str
    detail: str
    mqtt_topic: str
    received_ms: int
    payload: bytes

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": 1,
                "reason": self.reason,
                "detail": self.detail,
                "mqtt_topic": self.mqtt_topic,
                "received_ms": self.received_ms,
                "payload_b64": base64.b64encode(self.payload).decode(),
            }
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> DeadLetter:
        doc: dict[str, Any] = json.loads(data)
        return cls(
            doc["reason"],
            doc["detail"],
            doc["mqtt_topic"],
            doc["received_ms"],
            base64.b64decode(doc["payload_b64"]),
        )

