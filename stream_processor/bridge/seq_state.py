"""The bridge's per-gateway state on the compacted Kafka topic ``bridge-seq``.

Key ``<site>/<gateway>/data`` or ``.../alarm`` (a seq stream) or
``<site>/<gateway>/status``; value, JSON::

    {"v": 1, "bridge": "bridge-1", "kind": "seq", "high": 140, "epoch": 0,
     "holes": [[101, 120, 0]]}                      # [from, to, reported]
    {"v": 1, "bridge": "bridge-1", "kind": "status", "state": "online", "ts_ms": 1764189600123}

Who writes: the bridge loop, after the Kafka acks of a round's readings and
before the round's MQTT acks, one record per stream the round touched. So the
stored state never claims a seq whose readings are not in Kafka (a restarted
bridge never drops a redelivered frame it had not delivered), and it covers
every frame already acknowledged to MQTT (a restarted bridge reports no false
gap for frames the broker will not send again).

Who reads: every bridge at start, from the beginning to the end offset
(:meth:`SeqStateStore.load`), before it subscribes to MQTT; then it follows
the topic (:meth:`SeqStateStore.follow`) and merges what *other* bridges
write, so the bridges of one share group, each seeing part of a gateway's
seqs, close each other's holes and drop each other's duplicates (within the
time the merge takes, about one round).

Compaction keeps the last record per key. A tombstone (null value) makes
the bridges reading it forget that stream; running bridges still hold it in
memory, so restart them after writing one. Two bridges writing the same key
at once can each lose the other's last round from the stored state; only if
both then restart before writing again does that show as a false gap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from parkwatch.settings import Settings
from stream_processor.bridge.routing import OutgoingRecord
from stream_processor.bridge.seq_tracker import SeqTracker
from stream_processor.kafka_topics import KAFKA_BRIDGE_SEQ

__all__ = ["KAFKA_BRIDGE_SEQ", "SeqStateStore", "StatusBook"]

log = logging.getLogger(__name__)

_VERSION: Final = 1

#: ``<site>/<gateway>`` -> (state, status ts_ms), the last status known for the gateway.
StatusBook = dict[str, tuple[str, int]]


class SeqStateStore:
    """Reads, follows and writes ``bridge-seq`` for one bridge (``bridge_id`` = its client id)."""

    def __init__(self, settings: Settings, bridge_id: str, tracker: SeqTracker, statuses: StatusBook) -> None:
        self._settings = settings
        self._bridge_id = bridge_id
        self._tracker = tracker
        self._statuses = statuses
        self._partition = TopicPartition(KAFKA_BRIDGE_SEQ, 0)
        self._consumer: AIOKafkaConsumer | None = None

    def seq_record(self, key: str) -> OutgoingRecord:
        value = {"v": _VERSION, "bridge": self._bridge_id, "kind": "seq", **self._tracker.snapshot(key)}
        return OutgoingRecord(KAFKA_BRIDGE_SEQ, key.encode(), _json(value))

    def status_record(self, gateway_key: str) -> OutgoingRecord:
        state, ts_ms = self._statuses[gateway_key]
        value = {"v": _VERSION, "bridge": self._bridge_id, "kind": "status", "state": state, "ts_ms": ts_ms}
        return OutgoingRecord(KAFKA_BRIDGE_SEQ, f"{gateway_key}/status".encode(), _json(value))

    async def load(self) -> int:
        """Read the topic to its current end, merging every record; returns how many were read."""
        consumer = self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap, group_id=None,
            enable_auto_commit=False, auto_offset_reset="earliest",
        )
        await consumer.start()
        consumer.assign([self._partition])
        await consumer.seek_to_beginning(self._partition)
        end = (await consumer.end_offsets([self._partition]))[self._partition]
        count = 0
        while await consumer.position(self._partition) < end:
            batch = await consumer.getmany(self._partition, timeout_ms=500)
            for rec in batch.get(self._partition, []):
                count += self._apply(rec.key, rec.value, own_too=True)
        log.info("loaded %d gateway state records from %s (%d streams)", count, KAFKA_BRIDGE_SEQ, end)
        return count

    async def follow(self) -> None:
        """Merge what other bridges write, until cancelled; Kafka errors are logged and retried."""
        assert self._consumer is not None, "load() first"
        while True:
            try:
                batch = await self._consumer.getmany(self._partition, timeout_ms=500)
            except KafkaError as exc:
                log.warning("reading %s failed (%r); retrying", KAFKA_BRIDGE_SEQ, exc)
                await asyncio.sleep(1.0)
                continue
            for rec in batch.get(self._partition, []):
                self._apply(rec.key, rec.value, own_too=False)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def _apply(self, key: bytes | None, value: bytes | None, *, own_too: bool) -> int:
        if key is None:
            return 0
        if value is None:  # a tombstone: forget the stream (a re-installed gateway)
            name = key.decode(errors="replace")
            self._tracker.forget(name)
            self._statuses.pop(name.removesuffix("/status"), None)
            return 1
        try:
            doc: dict[str, Any] = json.loads(value)
            if doc.get("v") != _VERSION or (not own_too and doc.get("bridge") == self._bridge_id):
                return 0
            name = key.decode()
            if doc["kind"] == "seq":
                self._tracker.merge(name, doc, now_s=time.monotonic())
            elif doc["kind"] == "status":
                self._statuses[name.rsplit("/", 1)[0]] = (str(doc["state"]), int(doc["ts_ms"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable %s record %r: %r", KAFKA_BRIDGE_SEQ, key, exc)
            return 0
        return 1


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
