"""The alert manager on the worker: an agent on ``alerts``, a timer and the ``alert-manager`` table.

``alerts`` has one partition, so Kafka gives it to exactly one worker of the
group; the table's changelog has one partition too, so Faust's assignor puts
both in one co-partitioned group and hands them to the same worker, and
restores the table before that worker's agent sees an event (after a
rebalance, the next owner continues from the state). The timer runs on every
worker and works only on the owner: the partition must be in the consumer's
assignment (``app.consumer.assignment()``; a source topic is only assigned to
its active owner, never to a standby) and no rebalance under way
(``app.rebalancing`` stays true until the tables are recovered).

Per event, in offset order: decode, :meth:`AlertManager.apply`, publish what
it returns and wait until Kafka has it, write the changed table entries to the
changelog, then ack. So the changelog never records an event Kafka does not
have, and Faust, which flushes the producer before it commits, never commits
an offset whose state is not in the changelog: after a kill -9 the next owner
restores a state at or past the committed offset and reads on from there.
Re-applying an event the state covers changes nothing; the others re-emit the
same events. Publishing that fails is retried (see :meth:`AlertManagerRuntime.on_event`).

Faust can lose a record at a takeover: fetched while it is still seeking, the
stream skips it and the commit later moves past it. The runtime notices the
jump in offsets (or, idle at the end, a fetch position past what it applied)
and reads the missing records straight from Kafka before going on.

The manager's events carry the header ``parkwatch-origin: alert-manager``, so
that when they come back it knows them as its own (they update the state and
trigger nothing). Their Kafka timestamp is that of the event that caused them
(or the time of the check), so a re-emit is identical down to the timestamp.

Wall-clock work (escalation, quiet floods, forgetting) waits after every
takeover until the owner has read the topic as far as it went at the
takeover: what the previous owner published must be read back before it
could be published a second time from a state that lacks it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any, Final

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from faust.exceptions import ProducerSendError
from faust.types import TP, EventT, TableT

from parkwatch.errors import FrameError
from parkwatch.wire.alerts import AlertEvent
from stream_processor.alert_manager import FLOOD, AlertManager
from stream_processor.alert_manager_config import AlertManagerConfig
from stream_processor.alert_manager_state import ManagerState
from stream_processor.topics import ProcessorTopics

__all__ = [
    "ALERT_MANAGER_TABLE",
    "ORIGIN_HEADER",
    "ORIGIN",
    "AlertManagerRuntime",
    "declare_alert_manager_table",
    "register_alert_manager",
]

log = logging.getLogger(__name__)

#: Errors of getting events into Kafka, which a retry can fix.
_TRANSIENT: Final = (KafkaError, ProducerSendError, TimeoutError, OSError)

ALERT_MANAGER_TABLE: Final = "alert-manager"
#: Record header marking the manager's own events on ``alerts`` (consumers may ignore it).
ORIGIN_HEADER: Final = "parkwatch-origin"
ORIGIN: Final = b"alert-manager"


class _JsonValue:
    """The table's ``value_type``: Faust's ``json`` codec, values are plain JSON objects."""

    _options = SimpleNamespace(serializer="json")

    @staticmethod
    def from_data(data: Any, *, preferred_type: Any = None) -> Any:
        return data


def declare_alert_manager_table(app: faust.App) -> TableT:
    """``alert-manager``: keys ``alert/<id>``, ``incident/<id>``, ``site/<site>`` (see
    :mod:`stream_processor.alert_manager_state`); one partition, like ``alerts``."""
    return app.Table(
        ALERT_MANAGER_TABLE,
        default=None,
        key_type=bytes,
        value_type=_JsonValue,
        partitions=1,
        help="Alert lifecycle state: alerts by id, flood incidents, per-site windows of recent opens.",
    )


@dataclass
class AlertManagerStats:
    """Totals of this process while it owned the ``alerts`` partition."""

    events: int = 0
    #: Records on ``alerts`` that are not alert events (logged, acked, skipped).
    refused: int = 0
    published: int = 0
    takeovers: int = 0
    changelog_writes: int = 0


class AlertManagerRuntime:
    """Runs an :class:`AlertManager` on the owner of the ``alerts`` partition (module docstring)."""

    def __init__(self, app: faust.App, topics: ProcessorTopics, table: TableT, config: AlertManagerConfig,
                 *, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.topics = topics
        self.table = table
        self.config = config
        self.tp = TP(topics.alerts.get_topic_name(), 0)
        self.stats = AlertManagerStats()
        #: The live manager while this worker owns the partition; None = (re)load from the table.
        self.manager: AlertManager | None = None
        self._clock = clock
        self._lock = asyncio.Lock()
        self._applied = -1
        self._catch_up_to: int | None = None
        self._caught_up = False
        self._last_event_s = time.monotonic()

    def owns(self) -> bool:
        """Whether this worker holds the ``alerts`` partition, with its table restored."""
        return not self.app.rebalancing and self.tp in self.app.consumer.assignment()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def on_event(self, event: EventT) -> None:
        """One record of ``alerts``; acks it once its consequences are in Kafka.

        Faust commits past a single unacked record once the next one is acked (its
        ``_new_offset`` tolerates a gap of one at the head), so a record is never left
        unacked while later ones go on: Kafka refusing its events is retried here, with
        backoff, until it works or the partition goes to another worker (then the record is
        left unacked; the next owner reads on from the committed offset, before it). Any
        other error is a bug that retrying cannot fix: logged, the record skipped.
        """
        message = event.message
        self._last_event_s = time.monotonic()
        backoff_s = 0.5
        while True:
            async with self._lock:
                applied = self._applied
                try:
                    manager = self._loaded()
                    if message.offset > self._applied:  # else delivered again (Faust seeks at a takeover)
                        start = self._applied + 1 if self._applied >= 0 else self._committed()
                        if start is not None and message.offset > start:
                            await self._fill(manager, start, message.offset)
                        await self._apply(manager, message.offset, message.timestamp, event.headers,
                                          event.value)
                        self._save()
                    break
                except _TRANSIENT as exc:
                    log.warning("alert manager: events of the record at offset %s not delivered (%r); "
                                "retrying in %.1f s", message.offset, exc, backoff_s)
                    self.manager = None  # the state again from the table: the retry re-emits the same
                    self._applied = applied
                except Exception:  # noqa: BLE001 - logged; the next record goes on
                    log.exception("alert manager: record at offset %s failed and is skipped; reloading the "
                                  "state", message.offset)
                    self.manager = None
                    self._applied = message.offset
                    break
            await asyncio.sleep(backoff_s)
            backoff_s = min(2 * backoff_s, 30.0)
            if self.app.should_stop or not self.owns():
                return  # not acked: the next owner reads it
        event.ack()

    async def _apply(self, manager: AlertManager, offset: int, timestamp_s: float | None,
                     headers: Mapping[str, bytes] | None, value: bytes | None, *,
                     check_due: bool = True) -> None:
        """Apply one record and publish what it causes (and the alert's escalation, if due)."""
        self._applied = offset
        try:
            alert = AlertEvent.decode(value)
        except FrameError as exc:  # other producers' mistakes: counted, never fatal
            self.stats.refused += 1
            log.warning("alert manager: record at offset %s is not an alert event: %s", offset, exc)
            return
        now = self._now_ms()
        record_ms = int(timestamp_s * 1000) if timestamp_s and timestamp_s > 0 else now
        caused = manager.apply(alert, record_ms, own=_is_own(headers))
        due = manager.check_alert(alert.id, now) if check_due and await self._is_caught_up() else []
        await self._send(caused, record_ms)
        await self._send(due, now)
        self.stats.events += 1

    async def _fill(self, manager: AlertManager, start: int, end: int) -> None:
        """Apply offsets ``start..end-1``, read straight from Kafka.

        At a takeover Faust can fetch a record while it is still seeking, and its stream
        then skips it (flow control not resumed yet, ``faust/streams.py``); nothing fetches
        it again, and the commit moves past it once the next record is acked. The manager
        must not lose an acknowledgement or an opened alert that way.
        """
        log.warning("alert manager: offsets %d..%d of %s never reached the agent; reading them directly",
                    start, end - 1, self.tp)
        broker = self.app.conf.broker[0]
        reader = AIOKafkaConsumer(bootstrap_servers=f"{broker.host}:{broker.port}", group_id=None,
                                  enable_auto_commit=False)
        tp = TopicPartition(self.tp.topic, self.tp.partition)
        await reader.start()
        try:
            reader.assign([tp])
            reader.seek(tp, start)
            deadline = time.monotonic() + 30.0
            while self._applied + 1 < end:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"offsets {start}..{end - 1} of {self.tp} not readable")
                batch = await reader.getmany(tp, timeout_ms=500)
                for record in batch.get(tp, []):
                    if start <= record.offset < end and record.offset > self._applied:
                        await self._apply(manager, record.offset, record.timestamp / 1000,
                                          dict(record.headers), record.value, check_due=False)
                if await reader.position(tp) >= end:
                    break  # a hole in the offsets (nothing there to apply)
        finally:
            await reader.stop()
        self._applied = max(self._applied, end - 1)

    async def on_tick(self) -> None:
        """The timer: escalations due, quiet floods, forgetting; only on the owner, once caught up."""
        if not self.owns():
            return
        async with self._lock:
            if not self.owns():
                return
            applied = self._applied
            try:
                manager = self._loaded()
                caught_up = await self._is_caught_up()  # may read records the stream skipped
                now = self._now_ms()
                await self._send(manager.tick(now) if caught_up else [], now)
                self._save()
            except Exception:  # noqa: BLE001 - logged; the next tick starts from the table again
                log.exception("alert manager: check failed; reloading the state")
                self.manager = None
                self._applied = applied

    async def on_assigned(self, *_: Any, **__: Any) -> None:
        async with self._lock:
            self.manager = None  # the table is being restored: load it at first use
            self._applied = -1

    async def on_revoked(self, *_: Any, **__: Any) -> None:
        """Partitions revoked or the worker stopping: what changed goes to the changelog."""
        async with self._lock:
            if self.manager is not None:
                self._save()
                self.manager = None
                await self.app.producer.flush()

    def _loaded(self) -> AlertManager:
        if self.manager is None:
            state = ManagerState.from_items(self.table.data.items())
            self.manager = AlertManager(self.config, state)
            self._catch_up_to = None
            self._caught_up = False
            self.stats.takeovers += 1
            open_alerts = sum(t.latest.state == "open" for t in state.alerts.values())
            log.info("alert manager owns %s: %d alerts (%d open), %d incidents, %d sites", self.tp,
                     len(state.alerts), open_alerts, len(state.incidents), len(state.sites))
        return self.manager

    async def _is_caught_up(self) -> bool:
        """Read (or committed) past where the topic ended when this worker took over."""
        if self._caught_up:
            return True
        consumer = self.app.consumer
        if self._catch_up_to is None:
            try:
                self._catch_up_to = (await consumer.highwaters(self.tp))[self.tp]
            except Exception as exc:  # noqa: BLE001 - asked again at the next event or tick
                log.warning("alert manager: cannot read the end offset of %s: %r", self.tp, exc)
                return False
        target = self._catch_up_to
        read = max(self._applied + 1, self._committed() or 0)
        if read < target and self.manager is not None:
            # Fetched past the target and idle, yet not all applied: records the stream skipped.
            position = await consumer.position(self.tp)
            idle = time.monotonic() - self._last_event_s >= max(1.0, 2 * self.config.check_interval_s)
            if position is not None and position >= target and idle:
                await self._fill(self.manager, read, target)
                read = target
        if read >= target:
            self._caught_up = True
            log.info("alert manager caught up with %s at offset %d: escalation checks on", self.tp, target)
        return self._caught_up

    def _committed(self) -> int | None:
        """The group's committed offset of ``alerts`` as this consumer knows it (no public getter)."""
        return self.app.consumer._committed_offset.get(self.tp)  # type: ignore[attr-defined]

    async def _send(self, events: list[AlertEvent], stamp_ms: int) -> None:
        """Publish ``events`` (key = id, marked as the manager's) and wait until Kafka has them."""
        if not events:
            return
        pending = []
        for event in events:
            pending.append(await self.topics.alerts.send(
                key=event.id.encode(), value=event.encode(), timestamp=stamp_ms / 1000,
                headers={ORIGIN_HEADER: ORIGIN},
            ))
            if event.kind == FLOOD or (event.escalation and event.group is None):
                log.info("alert manager: %s %s %s %s escalation=%d: %s", event.kind, event.id, event.state,
                         event.severity, event.escalation, event.message)
            else:
                log.debug("alert manager: update %s %s group=%s", event.id, event.state, event.group)
        await asyncio.gather(*pending)
        self.stats.published += len(events)

    def _save(self) -> None:
        assert self.manager is not None
        partition = self.tp.partition
        for key, value in self.manager.state.changes():
            if value is None:
                self.table.send_changelog(partition, key, None, value_serializer="raw")
                self.table.data.pop(key, None)
            else:
                self.table.send_changelog(partition, key, value)
                self.table.data[key] = value
            self.stats.changelog_writes += 1

    def snapshot(self) -> dict[str, Any]:
        return asdict(self.stats)


def _is_own(headers: Mapping[str, bytes] | None) -> bool:
    return bool(headers) and headers.get(ORIGIN_HEADER) == ORIGIN  # type: ignore[union-attr]


def register_alert_manager(app: faust.App, topics: ProcessorTopics,
                           config: AlertManagerConfig) -> AlertManagerRuntime:
    """Declare the table and attach the agent, the timer and the rebalance hooks to ``app``."""
    table = declare_alert_manager_table(app)
    runtime = AlertManagerRuntime(app, topics, table, config)

    @app.agent(topics.alerts, name="alert-manager")
    async def manage_alerts(stream: AsyncIterable[EventT]) -> None:
        async for event in stream.noack().events():  # type: ignore[attr-defined]
            await runtime.on_event(event)

    @app.timer(interval=config.check_interval_s, name="alert-manager-check")
    async def check_alerts() -> None:
        await runtime.on_tick()

    app.on_partitions_assigned.connect(runtime.on_assigned)
    app.on_partitions_revoked.connect(runtime.on_revoked)
    app.on_before_shutdown.connect(runtime.on_revoked)
    return runtime
