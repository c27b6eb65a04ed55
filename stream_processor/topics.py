"""The Kafka topics the worker reads and writes, declared once against the App.

Names come from :mod:`parkwatch.wire.topics`. Keys and values stay raw bytes:
the wire modules own the formats (``decode_device_record``, ``AlertEvent``),
and Faust's codecs would only add a second definition of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from parkwatch.settings import Settings
from parkwatch.wire.events import KAFKA_GATEWAY_EVENTS
from parkwatch.wire.topics import KAFKA_ALERTS, KAFKA_READINGS

__all__ = ["ProcessorTopics", "declare_topics"]


@dataclass(frozen=True)
class ProcessorTopics:
    """``readings`` (one device record per message, key = device key), ``alerts`` (key = alert
    id) and the bridge's ``gateway-events`` (key = ``<site>/<gateway>``), for gateway rules."""

    readings: TopicT
    alerts: TopicT
    gateway_events: TopicT


def declare_topics(app: faust.App, settings: Settings) -> ProcessorTopics:
    """Declare the topics on ``app``.

    They are created beforehand by :func:`~stream_processor.kafka_topics.ensure_topics`.
    """
    readings = app.topic(
        KAFKA_READINGS,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.readings_partitions,
        internal=False,
    )
    alerts = app.topic(
        KAFKA_ALERTS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        internal=False,
    )
    gateway_events = app.topic(
        KAFKA_GATEWAY_EVENTS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        partitions=1, internal=False,
    )
    return ProcessorTopics(readings, alerts, gateway_events)
