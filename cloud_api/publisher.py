"""Publishes the API's changes to Kafka: alert changes to ``alerts``, rule versions to ``rules``.

An operator's acknowledge, resolve, shelve (and a maintenance window's
suppression) is a new :class:`~parkwatch.wire.alerts.AlertEvent` with the same
id: every consumer of the topic sees it, this API's own consumer included,
which finds it already applied (handlers also apply it to the store directly,
so the caller sees the change at once). A rule change is the whole new
:class:`~parkwatch.wire.rules.Rule` version (key = rule id), a deleted rule a
tombstone (null value); the workers read the compacted topic.

One producer serves both, started on first use, so the API serves reads while
Kafka is down; a change that cannot be published fails with
:class:`PublishError` (503) and is not recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from parkwatch.errors import ParkwatchError, StackError
from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.rules import KAFKA_RULES, Rule
from parkwatch.wire.topics import KAFKA_ALERTS

__all__ = ["PublishError", "Publisher", "KafkaPublisher"]

log = logging.getLogger(__name__)


class PublishError(ParkwatchError):
    """A change could not be published to Kafka."""


class Publisher(Protocol):
    async def publish(self, event: AlertEvent) -> None:
        """Send ``event`` (key = alert id) and wait for the broker's acknowledgement."""
        ...

    async def publish_rule(self, rule_id: str, rule: Rule | None) -> None:
        """Send a rule version (key = ``rule_id``), or a tombstone for ``None``; wait for the ack."""
        ...

    async def close(self) -> None: ...


class KafkaPublisher:
    """``prepare`` runs before the producer first starts: the app passes the pipeline's topic
    creation, so a rule published before any worker ran lands on the compacted ``rules`` topic
    rather than on one a broker auto-created without compaction."""

    def __init__(self, bootstrap_servers: str, timeout_s: float = 10.0,
                 prepare: Callable[[], Awaitable[object]] | None = None) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout_s = timeout_s
        self._prepare = prepare
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def publish(self, event: AlertEvent) -> None:
        await self._send(KAFKA_ALERTS, event.id, event.encode())

    async def publish_rule(self, rule_id: str, rule: Rule | None) -> None:
        await self._send(KAFKA_RULES, rule_id, rule.encode() if rule is not None else None)

    async def _send(self, topic: str, key: str, value: bytes | None) -> None:
        try:
            producer = await self._started()
            await asyncio.wait_for(producer.send_and_wait(topic, value, key=key.encode()), self.timeout_s)
        except (KafkaError, OSError, TimeoutError, StackError) as exc:
            await self.close()
            raise PublishError(f"cannot publish to Kafka {self.bootstrap_servers}: {exc!r}") from exc

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                if self._prepare is not None:
                    await asyncio.wait_for(self._prepare(), self.timeout_s)
                    self._prepare = None
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers, acks="all", request_timeout_ms=10_000
                )
                try:
                    await asyncio.wait_for(producer.start(), self.timeout_s)
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except (KafkaError, OSError) as exc:
                log.warning("closing the Kafka producer failed: %s", exc)
