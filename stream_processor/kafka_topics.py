"""Create the Kafka topics the pipeline needs, once, before anything produces.

Partitions: ``readings`` gets ``settings.readings_partitions`` (the ceiling on
worker parallelism; its key is the device, so per-sensor order holds). ``alerts``,
``deadletter``, ``alarms`` and ``gateway-events`` carry little traffic and only
need per-key order, so one partition each. ``bridge-seq`` (the bridges'
per-gateway seq state) has one partition, which every bridge reads whole at
start, and is compacted: only the last record per gateway stream is needed.
``rules`` (the monitoring rules, :mod:`parkwatch.wire.rules`) is the same:
one partition, compacted, read whole by every worker.
Existing topics are left alone: a partition count that differs from the
settings is logged, never changed, because re-partitioning would move keys
away from their table state.
"""

from __future__ import annotations

import logging
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from parkwatch.errors import StackError
from parkwatch.settings import Settings
from parkwatch.wire.events import KAFKA_ALARMS, KAFKA_GATEWAY_EVENTS
from parkwatch.wire.rules import KAFKA_RULES
from parkwatch.wire.topics import KAFKA_ALERTS, KAFKA_DEADLETTER, KAFKA_READINGS

__all__ = ["KAFKA_BRIDGE_SEQ", "topic_partitions", "ensure_topics"]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS: Final = 36
#: The bridges' own state (see ``stream_processor/bridge/seq_state.py``).
KAFKA_BRIDGE_SEQ: Final = "bridge-seq"
_COMPACT: Final = {"cleanup.policy": "compact"}
_TOPIC_CONFIGS: Final = {KAFKA_BRIDGE_SEQ: _COMPACT, KAFKA_RULES: _COMPACT}


def topic_partitions(settings: Settings) -> dict[str, int]:
    """Name -> partition count of every topic the pipeline uses."""
    return {KAFKA_READINGS: settings.readings_partitions, KAFKA_ALERTS: 1, KAFKA_DEADLETTER: 1,
            KAFKA_ALARMS: 1, KAFKA_GATEWAY_EVENTS: 1, KAFKA_BRIDGE_SEQ: 1,
            KAFKA_RULES: 1}


async def ensure_topics(settings: Settings, *, timeout_ms: int = 10_000) -> list[str]:
    """Create the missing topics (idempotent); returns the names it created.

    Raises :class:`StackError` when the broker cannot be reached or refuses.
    """
    wanted = topic_partitions(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if existing & wanted.keys():
            for meta in await admin.describe_topics([n for n in wanted if n in existing]):
                have = len(meta.get("partitions", []))
                if have and have != wanted[meta["topic"]]:
                    log.warning(
                        "topic %s has %d partitions, settings ask for %d; leaving it as is",
                        meta["topic"], have, wanted[meta["topic"]],
                    )
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(name, wanted[name], replication_factor=1, topic_configs=_TOPIC_CONFIGS.get(name))
             for name in missing],
            timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        raise StackError(f"cannot create Kafka topics at {settings.kafka_bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()
    created = []
    for topic, code, *rest in response.topic_errors:
        if code == 0:
            created.append(topic)
        elif code != _TOPIC_ALREADY_EXISTS:
            message = rest[0] if rest else ""
            raise StackError(f"Kafka refused to create topic {topic!r}: error {code} {message}")
    if created:
        log.info("created Kafka topics %s", ", ".join(sorted(created)))
    return created
