"""The bridge loop: MQTT messages in; readings, alarms, gateway events (or dead letters) out to Kafka.

One asyncio task does all routing and producing, in rounds: take what the
MQTT thread handed over, route each message
(:func:`~stream_processor.bridge.routing.route_message`), check frame and
alarm seqs (:class:`~stream_processor.bridge.seq_tracker.SeqTracker`: repeats
are dropped), produce every record (aiokafka batches them per partition with
``linger``), wait for all acks, retry what failed with backoff; then produce
the round's gateway events and seq state (``bridge-seq``) and wait for those
acks; only then acknowledge the round's messages to MQTT. Between rounds new
messages pile up in the inbox, so rounds grow with load. A second task
reports holes that stayed open past their deadline as ``gap`` events.

Nothing about a payload stops the bridge: bad frames become dead letters and
counters. Kafka being unreachable makes rounds retry (and the inbox fill,
which pushes back on MQTT) until it returns; only at shutdown is there a
deadline, after which what is still undelivered is counted and logged (and
not acknowledged to MQTT, so a persistent session gets it again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from parkwatch.errors import StackError
from parkwatch.settings import Settings
from parkwatch.wire.events import KAFKA_ALARMS, KAFKA_GATEWAY_EVENTS, GatewayEvent, GatewayStatus, SeqStream
from parkwatch.wire.topics import KAFKA_DEADLETTER, KAFKA_READINGS
from stream_processor.bridge.config import BridgeConfig
from stream_processor.bridge.counters import BridgeCounters
from stream_processor.bridge.inbox import Inbox
from stream_processor.bridge.mqtt_source import InboundMessage, MqttSource
from stream_processor.bridge.routing import OutgoingRecord, Routed, route_message
from stream_processor.bridge.seq_state import KAFKA_BRIDGE_SEQ, SeqStateStore, StatusBook
from stream_processor.bridge.seq_tracker import SeqTracker
from stream_processor.kafka_topics import ensure_topics
from stream_processor.sink import InfluxSink, SinkConfig, pipeline_line

__all__ = ["Bridge"]

log = logging.getLogger(__name__)

_BACKOFF_MIN_S: Final = 0.2
_BACKOFF_MAX_S: Final = 5.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Bridge:
    """MQTT -> Kafka bridge; :meth:`run` until ``stop`` is set, then flush and return."""

    def __init__(self, settings: Settings, config: BridgeConfig) -> None:
        self.settings = settings
        self.config = config
        self.counters = BridgeCounters()
        self._source: MqttSource | None = None
        self._stopping = False
        self._deadline: float | None = None
        #: Dead-letter reasons already logged at WARNING this stats interval (a flood logs once).
        self._warned: set[str] = set()
        #: Where health goes (the ``pipeline`` measurement), once :meth:`run` started it.
        self._health: InfluxSink | None = None
        self.tracker = SeqTracker(
            gap_timeout_s=config.gap_timeout_s, reorder_grace_s=config.reorder_grace_s,
            dedupe_window=config.dedupe_window, max_holes=config.max_holes,
        )
        self.statuses: StatusBook = {}
        self._store = SeqStateStore(settings, config.client_id, self.tracker, self.statuses)

    @property
    def source(self) -> MqttSource | None:
        """The MQTT side, once :meth:`run` has started it."""
        return self._source

    def _producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            client_id=f"{self.config.client_id}-producer",
            acks="all",
            linger_ms=round(self.config.linger_s * 1000),
            compression_type=None if self.config.compression == "none" else self.config.compression,
            max_batch_size=self.config.batch_bytes,
            # A valid frame's largest device record stays under twice the frame limit.
            max_request_size=max(2 * self.config.max_frame_bytes, self.config.batch_bytes) + 65_536,
        )

    async def _start_kafka(self, stop: asyncio.Event) -> AIOKafkaProducer | None:
        """Topics and a started producer; waits (logged) while Kafka is unreachable."""
        delay = _BACKOFF_MIN_S
        while not stop.is_set():
            producer = self._producer()
            try:
                await ensure_topics(self.settings)
                await producer.start()
                return producer
            except (StackError, KafkaError, OSError) as exc:
                await producer.stop()
                log.warning("Kafka at %s not ready (%s); retrying in %.1fs",
                            self.settings.kafka_bootstrap, exc, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(2 * delay, _BACKOFF_MAX_S)
        return None

    async def run(self, stop: asyncio.Event) -> BridgeCounters:
        """Bridge until ``stop`` is set; then drain the inbox, flush Kafka and return the counters."""
        loop = asyncio.get_running_loop()
        producer = await self._start_kafka(stop)
        if producer is None:
            return self.counters
        follower: asyncio.Task[None] | None = None
        if self.config.seq_state == "kafka":
            try:
                await self._store.load()
            except BaseException:
                await self._store.stop()
                await producer.stop()
                raise
            follower = asyncio.create_task(self._store.follow())
        inbox: Inbox[InboundMessage] = Inbox(loop, self.config.max_pending_messages)
        source = self._source = MqttSource(self.settings, self.config, inbox)
        source.start()
        health = InfluxSink(self.settings, SinkConfig()) if self.config.health_report == "influxdb" else None
        self._health = health
        if health is not None:
            await health.start()
        stats = asyncio.create_task(self._log_stats(health))
        gaps = asyncio.create_task(self._report_gaps(producer))
        stopper = asyncio.create_task(self._stop_when(stop, source, inbox))
        try:
            while batch := await inbox.take(self.config.max_round_messages):
                if await self._forward(producer, batch):
                    source.settle(batch)
        finally:
            stop.set()  # also when the loop failed: release the stopper
            await stopper
            await asyncio.to_thread(source.stop)  # after the last settle: its PUBACKs go out first
            for task in (stats, gaps, follower):
                if task is not None:
                    task.cancel()
            await self._store.stop()
            await producer.stop()  # flushes whatever linger still holds
            if health is not None:
                await self._report(health)
                await health.stop()
            log.info("bridge stopped: %s", json.dumps(self.counters.snapshot()))
        return self.counters

    async def _stop_when(self, stop: asyncio.Event, source: MqttSource, inbox: Inbox[InboundMessage]) -> None:
        await stop.wait()
        log.info("bridge stopping: taking no new messages, delivering what is in hand")
        self._stopping = True
        self._deadline = asyncio.get_running_loop().time() + self.config.shutdown_timeout_s
        # Messages arriving from now on are left unacknowledged (the broker re-sends them
        # to the next bridge with this client id); the round loop drains the rest.
        source.pause()
        inbox.close()

    async def _log_stats(self, health: InfluxSink | None) -> None:
        while True:
            await asyncio.sleep(self.config.stats_interval_s)
            log.info("bridge stats %s", json.dumps(self.counters.snapshot()))
            self._warned.clear()
            if health is not None:
                await self._report(health)

    async def _report(self, health: InfluxSink) -> None:
        c = self.counters
        counters = {"frames_in": c.frames_in, "readings_in": c.readings_out, "deadletter": c.deadletter_out,
                    "produce_lost": c.produce_lost, "duplicates": c.duplicates, "gaps": c.gap_seqs,
                    "alarms": c.alarms_out}
        now_ms = int(time.time() * 1000)
        await health.write([pipeline_line("bridge", self.config.client_id, counters, now_ms)])

    async def _forward(self, producer: AIOKafkaProducer, batch: list[InboundMessage]) -> bool:
        """Route and produce one round; True once every record is acked (False: give up, don't settle)."""
        counters = self.counters
        records: list[OutgoingRecord] = []
        after: list[OutgoingRecord] = []  # events and state: only once ``records`` are in Kafka
        touched: set[str] = set()
        repeats: dict[tuple[str, str], list[int]] = defaultdict(list)
        edge_health: list[str] = []
        now_s = time.monotonic()
        for msg in batch:
            counters.frames_in += 1
            routed = route_message(
                msg.topic,
                msg.payload,
                msg.received_ms,
                max_frame_bytes=self.config.max_frame_bytes,
                deadletter_payload_bytes=self.config.deadletter_payload_bytes,
            )
            if routed.reason is not None:
                counters.deadletter[routed.reason] += 1
                level = logging.DEBUG if routed.reason in self._warned else logging.WARNING
                self._warned.add(routed.reason)
                log.log(level, "dead letter from %s: %s %s", msg.topic, routed.reason, routed.detail[:200])
            elif routed.status is not None:
                after.extend(self._status_changed(routed.status))
                edge_health.extend(_edge_health_line(routed.status))
            elif routed.seq_key is not None and routed.seq is not None:
                if not self._check_seq(routed, now_s, touched, repeats, after):
                    continue
            records.extend(routed.records)
        for (kind, key), seqs in repeats.items():
            after.append(_event_record(self._seq_event(kind, key, min(seqs), max(seqs), len(seqs))))
        if self.config.seq_state == "kafka":
            after.extend(self._store.seq_record(key) for key in sorted(touched))
        if edge_health and self._health is not None:
            await self._health.write(edge_health)
        return await self._deliver(producer, records) and await self._deliver(producer, after)

    def _check_seq(
        self, routed: Routed, now_s: float, touched: set[str],
        repeats: dict[tuple[str, str], list[int]], after: list[OutgoingRecord],
    ) -> bool:
        """Track the seq of an accepted frame or alarm; False when it is a repeat to drop."""
        key, seq = routed.seq_key, routed.seq
        assert key is not None and seq is not None
        counters = self.counters
        high = self.tracker.high(key)
        verdict = self.tracker.observe(key, seq, now_s=now_s)
        touched.add(key)
        if verdict == "duplicate":
            counters.duplicates += 1
            repeats["duplicate", key].append(seq)
            return False
        if verdict == "late":
            counters.late += 1
            repeats["late", key].append(seq)
        elif verdict == "reset":
            counters.seq_resets += 1
            log.warning("%s: seq went back from %s to %d; tracking restarts", key, high, seq)
            after.append(_event_record(self._seq_event("seq_reset", key, high or 0, seq, None)))
        if key.endswith("/alarm"):
            counters.alarms_in += 1
        else:
            counters.frames_ok += 1
        return True

    def _seq_event(self, kind: str, key: str, from_seq: int, to_seq: int, count: int | None) -> GatewayEvent:
        site, gateway, stream = key.split("/")
        stream_name: SeqStream = "alarm" if stream == "alarm" else "data"
        detail = {"gap": f"not received within {self.config.gap_timeout_s:g}s",
                  "duplicate": "dropped", "late": "forwarded after being reported as a gap",
                  "seq_reset": "seq went back past the dedupe window"}[kind]
        return GatewayEvent.make(
            kind, site, gateway, _now_ms(), self.config.client_id,  # type: ignore[arg-type]
            stream=stream_name, from_seq=from_seq, to_seq=to_seq, count=count, detail=detail,
            # Repeats may recur with the same range: only gaps and resets are one-off observations.
            identity="" if kind in ("gap", "seq_reset") else str(_now_ms()),
        )

    def _status_changed(self, status: GatewayStatus) -> list[OutgoingRecord]:
        """Event and state records when the gateway's status differs from the last one known."""
        self.counters.status_in += 1
        gateway_key = f"{status.site}/{status.gateway}"
        known = self.statuses.get(gateway_key)
        if known is not None and known[0] == status.state:
            return []
        self.statuses[gateway_key] = (status.state, status.ts_ms)
        log.info("gateway %s is %s", gateway_key, status.state)
        event = GatewayEvent.make(
            status.state, status.site, status.gateway, _now_ms(), self.config.client_id,
            detail=f"status ts_ms={status.ts_ms}", identity=str(status.ts_ms),
        )
        records = [_event_record(event)]
        if self.config.seq_state == "kafka":
            records.append(self._store.status_record(gateway_key))
        return records

    async def _report_gaps(self, producer: AIOKafkaProducer) -> None:
        """Every so often, turn holes past their deadline into ``gap`` events (with their state)."""
        interval_s = min(1.0, self.config.reorder_grace_s / 2)
        while True:
            await asyncio.sleep(interval_s)
            due = self.tracker.due_gaps(now_s=time.monotonic())
            if not due:
                continue
            records: list[OutgoingRecord] = []
            for key, lo, hi in due:
                self.counters.gaps += 1
                self.counters.gap_seqs += hi - lo + 1
                log.warning("gap: %s seqs %d..%d not received", key, lo, hi)
                records.append(_event_record(self._seq_event("gap", key, lo, hi, None)))
            if self.config.seq_state == "kafka":
                records.extend(self._store.seq_record(key) for key in sorted({k for k, _, _ in due}))
            await self._deliver(producer, records)

    async def _deliver(self, producer: AIOKafkaProducer, records: list[OutgoingRecord]) -> bool:
        """Produce until all are acked (True) or the shutdown deadline passed (False, logged)."""
        delay = _BACKOFF_MIN_S
        while records:
            records = await self._produce(producer, records)
            if not records:
                return True
            loop = asyncio.get_running_loop()
            if self._deadline is not None and loop.time() >= self._deadline:
                self.counters.produce_lost += len(records)
                log.error("shutdown deadline passed: %d records NOT delivered to Kafka "
                          "(their MQTT messages stay unacknowledged)", len(records))
                return False
            self.counters.produce_retries += len(records)
            log.warning("%d records not acked by Kafka; retrying in %.1fs", len(records), delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, _BACKOFF_MAX_S)
        return True

    async def _produce(
        self, producer: AIOKafkaProducer, records: list[OutgoingRecord]
    ) -> list[OutgoingRecord]:
        """Send all, await all acks; returns the records to retry."""
        sent: list[tuple[OutgoingRecord, asyncio.Future[object]]] = []
        retry: list[OutgoingRecord] = []
        for rec in records:
            try:
                sent.append((rec, await producer.send(rec.topic, rec.value, key=rec.key)))
            except MessageSizeTooLargeError as exc:
                self._lost(rec, exc)
            except KafkaError as exc:
                log.debug("send failed: %r", exc)
                retry.append(rec)
        results = await asyncio.gather(*(fut for _, fut in sent), return_exceptions=True)
        counters = self.counters
        for (rec, _), result in zip(sent, results, strict=True):
            if isinstance(result, MessageSizeTooLargeError):
                self._lost(rec, result)
            elif isinstance(result, BaseException):
                retry.append(rec)
            elif rec.topic == KAFKA_READINGS:
                counters.records_out += 1
                counters.readings_out += rec.readings
            elif rec.topic == KAFKA_DEADLETTER:
                counters.deadletter_out += 1
            elif rec.topic == KAFKA_ALARMS:
                counters.alarms_out += 1
            elif rec.topic == KAFKA_GATEWAY_EVENTS:
                counters.events_out += 1
            elif rec.topic == KAFKA_BRIDGE_SEQ:
                counters.state_out += 1
        return retry

    def _lost(self, rec: OutgoingRecord, exc: BaseException) -> None:
        self.counters.produce_lost += 1
        log.error("Kafka refuses record for %s key %r (%d bytes): %r", rec.topic, rec.key,
                  len(rec.value), exc)



def _edge_health_line(status: GatewayStatus) -> list[str]:
    """A gateway's own health from its status counters, as a ``pipeline`` point (component ``edge``).

    Gateways never talk to InfluxDB (data stays on site unless it must leave);
    the bridge writes what their periodic status says, so the pipeline board
    shows outbox depth and delivered readings per gateway.
    """
    c = status.counters
    if "outbox_records" not in c:
        return []
    counters = {"outbox_depth": c["outbox_records"], "readings_in": c.get("readings_acked", 0),
                "frames_dropped": c.get("outbox_frames_dropped", 0)}
    return [pipeline_line("edge", status.gateway, counters, status.ts_ms)]


def _event_record(event: GatewayEvent) -> OutgoingRecord:
    return OutgoingRecord(KAFKA_GATEWAY_EVENTS, event.key, event.encode())
