"""Keeps a projection in the API's database up to date from one Kafka topic.

:class:`TopicConsumer` is the loop behind ``gateway-events`` and ``alerts``
(:mod:`cloud_api.alerts_consumer`): it joins a
consumer group, reads batches, decodes each record with the ``decode`` it is
given and hands the batch, with the next offset of every partition in it, to
the projection's ``apply`` in a worker thread. The projection stores both in
one transaction.

Where to read from comes from the projection, not from the group's committed
offsets: on every assignment each partition is sought to the stored position,
or to offset 0 (the ``earliest`` reset then moves it to the oldest retained
record) if the projection has never seen it. A new or rebuilt database replays
the topic; an existing one resumes after its last applied batch. Offsets are
still auto-committed, only so that group lag can be monitored.

The consumer subscribes only once the topic exists (subscribing would
auto-create it with the broker's default partition count; the pipeline creates
its topics with the counts it wants).

Failure modes:

* Kafka unreachable at start, an error aiokafka raises later, or a
  :class:`~cloud_api.store.StoreError`: the Kafka client is closed, the error
  kept in :attr:`ConsumerStats.last_error`, and the consumer starts again after
  a backoff (0.5 s doubling to 5 s); nothing is skipped, because the stored
  positions did not move.
* A record ``decode`` refuses (:class:`~parkwatch.errors.FrameError`) is
  counted in ``events_malformed``, logged with its partition and offset, and
  skipped; its offset is stored with the batch, so it is not read again.
* Anything else is a bug: the task ends and the state becomes ``failed``.

With SQLite, run one API process per consumer group (members split the
partitions); processes sharing a PostgreSQL database may share the group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from cloud_api.store import PartitionKey, StoreError
from parkwatch.errors import FrameError

__all__ = ["ConsumerState", "ConsumerStats", "Applied", "Projection", "TopicConsumer"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_T_contra = TypeVar("_T_contra", contravariant=True)

#: ``connecting``: to the broker (or again, after an error); ``waiting_for_topic``: the broker
#: answers but the topic does not exist yet; ``connected``: partitions assigned, consuming.
ConsumerState = Literal["connecting", "waiting_for_topic", "connected", "stopped", "failed"]


@dataclass(slots=True)
class ConsumerStats:
    """Counters of one consumer; written only by its task."""

    state: ConsumerState = "connecting"
    #: Valid records applied (duplicates included).
    events_consumed: int = 0
    #: Records ``decode`` refused: counted, logged and skipped.
    events_malformed: int = 0
    #: Valid records the projection already had: redeliveries, replays, re-emissions.
    events_duplicate: int = 0
    last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self.state == "connected"


class Applied(Protocol):
    """What a projection's ``apply`` reports back."""

    @property
    def duplicates(self) -> int: ...


class Projection(Protocol[_T_contra]):
    """Where a topic's records go. Both calls block (the consumer runs them in a worker thread)
    and raise :class:`~cloud_api.store.StoreError` when the database fails."""

    def positions(self, topic: str, /) -> dict[int, int]:
        """Partition -> the next offset to read, for every partition applied so far."""
        ...

    def apply(self, records: Sequence[_T_contra], positions: Mapping[PartitionKey, int], /) -> Applied:
        """Store ``records`` and ``positions`` (``(topic, partition)`` -> next offset) in one transaction."""
        ...


class _SeekToStoredPositions(ConsumerRebalanceListener):
    """On assignment, point each partition at the stored next offset (0 if unknown)."""

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
            if position > ends.get(tp, position):
                # Offsets never go back on one topic: it was deleted and made again (or a
                # memory-only broker restarted). Everything on it now is new.
                log.warning("%s[%d] ends before the stored position %d: the topic was recreated; "
                            "reading it from the start", tp.topic, tp.partition, position)  # fmt: skip
                position = self._positions[tp.partition] = 0
            self._consumer.seek(tp, position)
        self._on_assigned()


class TopicConsumer(Generic[_T]):
    """Feeds ``projection`` from ``topic``; see the module docstring.

    No broker is needed until :meth:`start`::

        >>> from cloud_api.db import Database
        >>> from cloud_api.gateway_events import GatewayEventStore, decode_gateway_event
        >>> consumer = TopicConsumer(GatewayEventStore(Database("sqlite:///:memory:")),
        ...                          decode_gateway_event, "127.0.0.1:9092", topic="gateway-events",
        ...                          group_id="parkwatch-cloud-api.gateway-events")
        >>> consumer.stats.state, consumer.stats.connected
        ('connecting', False)
    """

    def __init__(
        self,
        projection: Projection[_T],
        decode: Callable[[bytes | None], _T],
        bootstrap_servers: str,
        *,
        topic: str,
        group_id: str,
        batch_max_records: int = 500,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 5.0,
    ) -> None:
        self.projection = projection
        self.decode = decode
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
            raise RuntimeError(f"the {self.topic} consumer is already started")
        self._task = asyncio.create_task(self._run(), name=f"{self.topic}-consumer")
        self._task.add_done_callback(self._on_done)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel the task and wait (up to ``timeout_s``) for the Kafka client to close."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        _, pending = await asyncio.wait([task], timeout=timeout_s)
        if pending:
            log.warning("%s consumer did not stop within %.0f s; abandoning it", self.topic, timeout_s)
        if self.stats.state != "failed":
            self.stats.state = "stopped"

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.stats.state = "failed"
            self.stats.last_error = _describe(exc)
            log.error("%s consumer failed and stopped", self.topic, exc_info=exc)

    async def _run(self) -> None:
        delay_s = self.retry_initial_s
        while True:
            try:
                await self._consume()
            except (KafkaError, OSError, StoreError) as exc:
                self.stats.last_error = _describe(exc)
                if self._joined:
                    delay_s = self.retry_initial_s
                log.warning("%s consumer (Kafka %s): %s; retrying in %.1f s",
                            self.topic, self.bootstrap_servers, self.stats.last_error, delay_s)  # fmt: skip
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, self.retry_max_s)

    async def _consume(self) -> None:
        """One connection's life: load positions, join the group, apply batches until an error."""
        positions = await asyncio.to_thread(self.projection.positions, self.topic)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=self.group_id,
            auto_offset_reset="earliest",
            enable_auto_commit=True,
            # Find the topic soon after it is created, not after the default 5 minutes.
            metadata_max_age_ms=5000,
            # Tansu holds a fetch for most of its max wait even when records are there.
            fetch_max_wait_ms=100,
        )
        self._joined = False
        try:
            await consumer.start()
            logged = False
            while self.topic not in await consumer.topics():
                self.stats.state = "waiting_for_topic"
                if not logged:
                    log.info("%s consumer: waiting for the topic to be created", self.topic)
                    logged = True
                await asyncio.sleep(1.0)
            listener = _SeekToStoredPositions(consumer, positions, self._on_joined)
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
                log.warning("%s consumer: closing the Kafka client failed: %s", self.topic, exc)

    def _on_joined(self) -> None:
        if not self._joined:
            log.info("%s consumer joined group %s at %s", self.topic, self.group_id, self.bootstrap_servers)
        self._joined = True
        self.stats.state = "connected"

    async def _apply(
        self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]], positions: dict[int, int]
    ) -> None:
        records: list[_T] = []
        next_offsets: dict[PartitionKey, int] = {}
        malformed = 0
        for tp, batch_records in batch.items():
            for record in batch_records:
                try:
                    records.append(self.decode(record.value))
                except FrameError as exc:
                    malformed += 1
                    log.warning("malformed record at %s[%d]@%d (key %r): %s",
                                tp.topic, tp.partition, record.offset, record.key, exc)  # fmt: skip
            next_offsets[(tp.topic, tp.partition)] = batch_records[-1].offset + 1
        result = await asyncio.to_thread(self.projection.apply, records, next_offsets)
        for (_, partition), offset in next_offsets.items():
            positions[partition] = offset
        self.stats.events_consumed += len(records)
        self.stats.events_malformed += malformed
        self.stats.events_duplicate += result.duplicates
        await self._applied(result)

    async def _applied(self, result: Applied) -> None:
        """After a batch is stored: a subclass's chance to act on what ``apply`` reported."""


def _describe(exc: BaseException) -> str:
    """``"Type: message"``, once (aiokafka's messages already start with their type)."""
    text = str(exc)
    name = type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name
