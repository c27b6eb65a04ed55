"""Keeps the alert store up to date from the Kafka ``alerts`` topic.

:class:`AlertsConsumer` is owned by the app's lifespan: :meth:`~AlertsConsumer.start`
spawns one background task, :meth:`~AlertsConsumer.stop` ends it. The task
joins the consumer group ``parkwatch-cloud-api``, reads batches, decodes them
and hands each batch to :meth:`AlertStore.apply` in a worker thread, together
with the next offset of every partition in the batch.

Where to read from comes from the store, not from the group's committed
offsets: on every assignment each partition is sought to the store's position,
or to offset 0 (the ``earliest`` reset then moves it to the oldest retained
record) if the store has never seen it. So a new or rebuilt database replays
the topic and an existing one resumes exactly after its last applied batch.
Offsets are still auto-committed, only so that group lag can be monitored.

The consumer subscribes only once the topic exists: aiokafka's subscription
would auto-create it with the broker's default partition count, while the
stream processor creates it with the count the pipeline wants.

Failure modes:

* Kafka unreachable at start, or an error aiokafka raises later (it rides out
  short broker outages by itself), or a store error: the consumer is closed,
  the error is kept in :attr:`ConsumerStats.last_error` and it starts again
  after a backoff (0.5 s doubling to 5 s); nothing is skipped, because the
  store's positions did not move.
* A malformed record is counted, logged with its partition and offset, and
  skipped; its offset is still stored so it is not read again.
* Anything else is a bug: the task ends, the state becomes ``failed`` and
  ``/healthz`` shows it.

With the SQLite backend each API process has its own store, so run one API
process per consumer group; a shared (PostgreSQL) store lets several share it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from cloud_api.store import AlertStore, PartitionKey, StoreError
from parkwatch.errors import FrameError
from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.topics import KAFKA_ALERTS

__all__ = ["GROUP_ID", "ConsumerState", "ConsumerStats", "AlertsConsumer"]

log = logging.getLogger(__name__)

GROUP_ID: Final = "parkwatch-cloud-api"

#: ``connecting``: to the broker (or again, after an error); ``waiting_for_topic``: the broker
#: answers but ``alerts`` does not exist yet; ``connected``: partitions assigned, consuming.
ConsumerState = Literal["connecting", "waiting_for_topic", "connected", "stopped", "failed"]


@dataclass(slots=True)
class ConsumerStats:
    """What ``/healthz`` reports. Written only by the consumer task."""

    state: ConsumerState = "connecting"
    #: Valid events applied to the store (duplicates included).
    events_consumed: int = 0
    #: Records that were not valid alert events.
    events_malformed: int = 0
    #: Valid events the store already had: redeliveries and replays.
    events_duplicate: int = 0
    last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self.state == "connected"


class _SeekToStorePositions(ConsumerRebalanceListener):
    """On assignment, point each partition at the store's next offset (0 if unknown)."""

    def __init__(
        self, consumer: AIOKafkaConsumer, positions: dict[int, int], on_assigned: Callable[[], None]
    ) -> None:
        self._consumer = consumer
        self._positions = positions
        self._on_assigned = on_assigned

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Nothing to save: positions are stored with every batch."""

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        tps = list(assigned)
        ends = await self._consumer.end_offsets(tps) if tps else {}
        for tp in tps:
            position = self._positions.get(tp.partition, 0)
            end = ends.get(tp, position)
            if position > end:
                # Offsets never go back on one topic: it was deleted and made again (or a
                # memory-only broker restarted). Everything on it now is new to the store.
                log.warning("%s[%d] ends at offset %d, before the stored position %d: the topic "
                            "was recreated; reading it from the start", tp.topic, tp.partition, end, position)
                position = self._positions[tp.partition] = 0
            self._consumer.seek(tp, position)
        self._on_assigned()


class AlertsConsumer:
    """Feeds ``store`` from the ``alerts`` topic; see the module docstring.

    Example (no broker needed until :meth:`start`)::

        >>> from cloud_api.db import Database
        >>> from cloud_api.sql_store import SqlAlertStore
        >>> consumer = AlertsConsumer(SqlAlertStore(Database("sqlite:///:memory:")), "127.0.0.1:9092")
        >>> consumer.stats.state, consumer.stats.connected
        ('connecting', False)
    """

    def __init__(
        self,
        store: AlertStore,
        bootstrap_servers: str,
        *,
        topic: str = KAFKA_ALERTS,
        group_id: str = GROUP_ID,
        batch_max_records: int = 500,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 5.0,
        on_suppressed: Callable[[list[AlertEvent]], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        #: Told about new alerts stored as suppressed by a maintenance window (the app
        #: publishes that state, so the stream processor's alert manager neither counts them
        #: towards a flood nor escalates them).
        self.on_suppressed = on_suppressed
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.group_id = group_id
        self.batch_max_records = batch_max_records
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.stats = ConsumerStats()
        self._task: asyncio.Task[None] | None = None
        #: Whether the current connection attempt got partitions assigned (resets the backoff).
        self._joined = False

    async def start(self) -> None:
        """Start the background task; returns at once, connecting happens in the task."""
        if self._task is not None:
            raise RuntimeError("AlertsConsumer already started")
        self._task = asyncio.create_task(self._run(), name="alerts-consumer")
        self._task.add_done_callback(self._on_done)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel the task and wait (up to ``timeout_s``) for the Kafka client to close."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        _, pending = await asyncio.wait([task], timeout=timeout_s)
        if pending:
            log.warning("alerts consumer did not stop within %.0f s; abandoning it", timeout_s)
        if self.stats.state != "failed":
            self.stats.state = "stopped"

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.stats.state = "failed"
            self.stats.last_error = _describe(exc)
            log.error("alerts consumer failed and stopped", exc_info=exc)

    async def _run(self) -> None:
        delay_s = self.retry_initial_s
        while True:
            try:
                await self._consume()
            except (KafkaError, OSError, StoreError) as exc:
                self.stats.last_error = _describe(exc)
                if self._joined:
                    delay_s = self.retry_initial_s
                log.warning(
                    "alerts consumer (Kafka %s): %s; retrying in %.1f s",
                    self.bootstrap_servers,
                    self.stats.last_error,
                    delay_s,
                )
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, self.retry_max_s)

    async def _consume(self) -> None:
        """One connection's life: load positions, join the group, apply batches until an error."""
        positions = await asyncio.to_thread(self.store.positions, self.topic)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=self.group_id,
            auto_offset_reset="earliest",
            enable_auto_commit=True,
            # Find the topic soon after it is created, not after the default 5 minutes.
            metadata_max_age_ms=5000,
            # Tansu holds a fetch for most of its max wait even when records are there: the
            # default 500 ms would add up to that to every alert (see stream_processor/app.py).
            fetch_max_wait_ms=100,
        )
        self._joined = False
        try:
            await consumer.start()
            await self._wait_for_topic(consumer)
            listener = _SeekToStorePositions(consumer, positions, self._on_joined)
            consumer.subscribe([self.topic], listener=listener)
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=self.batch_max_records)
                if batch:
                    await self._apply(batch, positions)
        finally:
            self.stats.state = "connecting"
            try:
                await asyncio.wait_for(consumer.stop(), timeout=5.0)
            except (KafkaError, OSError) as exc:
                # Raising here would replace the error (or the cancellation) being handled.
                log.warning("alerts consumer: closing the Kafka client failed: %s", exc)

    async def _wait_for_topic(self, consumer: AIOKafkaConsumer) -> None:
        """Subscribing would auto-create a missing topic with the broker's default partitions;
        the stream processor creates ``alerts`` with the count it wants, so wait for it instead."""
        logged = False
        while self.topic not in await consumer.topics():
            self.stats.state = "waiting_for_topic"
            if not logged:
                log.info("alerts consumer: waiting for topic %r to be created", self.topic)
                logged = True
            await asyncio.sleep(1.0)

    def _on_joined(self) -> None:
        if not self._joined:
            log.info("alerts consumer joined group %s at %s", self.group_id, self.bootstrap_servers)
        self._joined = True
        self.stats.state = "connected"

    async def _apply(
        self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]], positions: dict[int, int]
    ) -> None:
        events: list[AlertEvent] = []
        next_offsets: dict[PartitionKey, int] = {}
        malformed = 0
        for tp, records in batch.items():
            for record in records:
                try:
                    events.append(AlertEvent.decode(record.value))
                except FrameError as exc:
                    malformed += 1
                    log.warning(
                        "malformed alert event at %s[%d]@%d (key %r): %s",
                        tp.topic,
                        tp.partition,
                        record.offset,
                        record.key,
                        exc,
                    )
            next_offsets[(tp.topic, tp.partition)] = records[-1].offset + 1
        result = await asyncio.to_thread(self.store.apply, events, next_offsets)
        for (_, partition), offset in next_offsets.items():
            positions[partition] = offset
        self.stats.events_consumed += len(events)
        self.stats.events_malformed += malformed
        self.stats.events_duplicate += result.duplicates
        if result.suppressed and self.on_suppressed is not None:
            await self.on_suppressed(result.suppressed)


def _describe(exc: BaseException) -> str:
    """``"Type: message"``, once (aiokafka's messages already start with their type)."""
    text = str(exc)
    name = type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name
