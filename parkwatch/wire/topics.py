"""MQTT topic scheme and Kafka topic names.

MQTT (one tree per site and gateway)::

    parkwatch/<site>/<gateway>/data     frames of readings, QoS 1
    parkwatch/<site>/<gateway>/alarm    local alarms raised on the gateway, QoS 1
    parkwatch/<site>/<gateway>/status   retained birth/death (last will), QoS 1

Kafka::

    readings     one record per device per frame, key "<site>/<gateway>/<device>"
    alerts       alert events, key = alert id
    deadletter   rejected payloads with the reason, key = "<site>/<gateway>"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ROOT",
    "ID_PATTERN",
    "Channel",
    "GatewayTopic",
    "mqtt_topic",
    "parse_mqtt_topic",
    "mqtt_subscription",
    "device_key",
    "KAFKA_READINGS",
    "KAFKA_ALERTS",
    "KAFKA_DEADLETTER",
]

ROOT: Final = "parkwatch"
#: Site, gateway, device and point ids: safe in MQTT topics, Kafka keys and InfluxDB tags.
ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Channel = Literal["data", "alarm", "status"]
_CHANNELS: Final = ("data", "alarm", "status")

KAFKA_READINGS: Final = "readings"
KAFKA_ALERTS: Final = "alerts"
KAFKA_DEADLETTER: Final = "deadletter"


@dataclass(frozen=True, slots=True)
class GatewayTopic:
    """A parsed MQTT topic."""

    site: str
    gateway: str
    channel: Channel


def mqtt_topic(site: str, gateway: str, channel: Channel) -> str:
    """Build the MQTT topic for a gateway channel.

    >>> mqtt_topic("north", "gw-01", "data")
    'parkwatch/north/gw-01/data'
    """
    for name, value in (("site", site), ("gateway", gateway)):
        if not ID_PATTERN.match(value):
            raise ValueError(f"invalid {name} id {value!r}: must match {ID_PATTERN.pattern}")
    return f"{ROOT}/{site}/{gateway}/{channel}"


def parse_mqtt_topic(topic: str) -> GatewayTopic | None:
    """Parse a topic of the scheme; ``None`` for anything else.

    >>> parse_mqtt_topic("parkwatch/north/gw-01/status")
    GatewayTopic(site='north', gateway='gw-01', channel='status')
    >>> parse_mqtt_topic("other/north/gw-01/data") is None
    True
    """
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != ROOT or parts[3] not in _CHANNELS:
        return None
    if not (ID_PATTERN.match(parts[1]) and ID_PATTERN.match(parts[2])):
        return None
    return GatewayTopic(parts[1], parts[2], parts[3])  # type: ignore[arg-type]


def mqtt_subscription(channel: Channel, share_group: str | None = None) -> str:
    """Wildcard subscription for one channel of every gateway, optionally shared.

    >>> mqtt_subscription("data", "bridge")
    '$share/bridge/parkwatch/+/+/data'
    """
    topic = f"{ROOT}/+/+/{channel}"
    return f"$share/{share_group}/{topic}" if share_group else topic


def device_key(site: str, gateway: str, device: str) -> str:
    """Kafka key of a device: all its readings land in one partition.

    >>> device_key("north", "gw-01", "gas-3")
    'north/gw-01/gas-3'
    """
    return f"{site}/{gateway}/{device}"
