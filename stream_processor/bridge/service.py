"""The bridge loop: MQTT frames in, device records (or dead letters) out to Kafka.

One asyncio task does all routing and producing, in rounds: take what the
MQTT thread handed over, route each message
(:func:`~stream_processor.bridge.routing.route_message`), produce every record
(aiokafka batches them per partition with ``linger``), wait for all acks,
retry what failed with backoff, then settle the round's messages. Between
rounds new messages pile up in the inbox, so rounds grow with load.

Nothing about a payload stops the bridge: bad frames become dead letters and
counters. Kafka being unreachable makes rounds retry (and the inbox fill,
which pushes back on MQTT) until it returns; only at shutdown is there a
deadline, after which what is still undelivered is counted and logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from parkwatch.errors import StackError
from parkwatch.settings import Settings
from parkwatch.wire.topics import KAFKA_READINGS
from stream_processor.bridge.config import BridgeConfig
from stream_processor.bridge.counters import BridgeCounters
from stream_processor.bridge.inbox import Inbox
from stream_processor.bridge.mqtt_source import InboundMessage, MqttSource
from stream_processor.bridge.routing import OutgoingRecord, route_message
from stream_processor.kafka_topics import ensure_topics
from stream_processor.sink import InfluxSink, SinkConfig, pipeline_line

__all__ = ["Bridge"]

log = logging.getLogger(__name__)

_BACKOFF_MIN_S: Final = 0.2
_BACKOFF_MAX_S: Final = 5.0


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
        inbox: Inbox[InboundMessage] = Inbox(loop, self.config.max_pending_messages)
        source = self._source = MqttSource(self.settings, self.config, inbox)
        source.start()
        health = InfluxSink(self.settings, SinkConfig()) if self.config.health_report == "influxdb" else None
        if health is not None:
            await health.start()
        stats = asyncio.create_task(self._log_stats(health))
        stopper = asyncio.create_task(self._stop_when(stop, source, inbox))
        try:
            while batch := await inbox.take(self.config.max_round_messages):
                await self._forward(producer, batch)
                source.settle(batch)
        finally:
            stop.set()  # also when the loop failed: release the stopper so paho disconnects
            await stopper
            stats.cancel()
            await producer.stop()  # flushes whatever linger still holds
            if health is not None:
                await self._report(health)
                await health.stop()
            log.info("bridge stopped: %s", json.dumps(self.counters.snapshot()))
        return self.counters

    async def _stop_when(self, stop: asyncio.Event, source: MqttSource, inbox: Inbox[InboundMessage]) -> None:
        await stop.wait()
        log.info("bridge stopping: disconnecting from MQTT, delivering what is in hand")
        self._stopping = True
        self._deadline = asyncio.get_running_loop().time() + self.config.shutdown_timeout_s
        # The round loop keeps draining meanwhile, so a paho thread blocked on a
        # full inbox gets room, handles the DISCONNECT and exits.
        await asyncio.to_thread(source.stop)
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
                    "produce_lost": c.produce_lost}
        now_ms = int(time.time() * 1000)
        await health.write([pipeline_line("bridge", self.config.client_id, counters, now_ms)])

    async def _forward(self, producer: AIOKafkaProducer, batch: list[InboundMessage]) -> None:
        """Route and produce one round; returns once every record is acked or given up."""
        counters = self.counters
        records: list[OutgoingRecord] = []
        for msg in batch:
            counters.frames_in += 1
            routed = route_message(
                msg.topic,
                msg.payload,
                msg.received_ms,
                max_frame_bytes=self.config.max_frame_bytes,
                deadletter_payload_bytes=self.config.deadletter_payload_bytes,
            )
            if routed.reason is None:
                counters.frames_ok += 1
            else:
                counters.deadletter[routed.reason] += 1
                level = logging.DEBUG if routed.reason in self._warned else logging.WARNING
                self._warned.add(routed.reason)
                log.log(level, "dead letter from %s: %s %s", msg.topic, routed.reason, routed.detail[:200])
            records.extend(routed.records)
        delay = _BACKOFF_MIN_S
        while records:
            records = await self._produce(producer, records)
            if not records:
                return
            loop = asyncio.get_running_loop()
            if self._deadline is not None and loop.time() >= self._deadline:
                counters.produce_lost += len(records)
                log.error("shutdown deadline passed: %d records NOT delivered to Kafka", len(records))
                return
            counters.produce_retries += len(records)
            log.warning("%d records not acked by Kafka; retrying in %.1fs", len(records), delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, _BACKOFF_MAX_S)

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
            else:
                counters.deadletter_out += 1
        return retry

    def _lost(self, rec: OutgoingRecord, exc: BaseException) -> None:
        self.counters.produce_lost += 1
        log.error("Kafka refuses record for %s key %r (%d bytes): %r", rec.topic, rec.key,
                  len(rec.value), exc)
