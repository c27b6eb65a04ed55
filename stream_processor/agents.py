"""The scoring agent: a thin loop over ``readings`` records, acking each only once it is stored.

Per record (one device's readings from one frame): decode, fetch the device's
state from the table, add the record to the point's 1-minute aggregates, score
it (:class:`~stream_processor.scoring.RecordScorer`), hand alert events
keyed by alert id to the producer, then hand all lines to the InfluxDB sink
together with the record's acknowledgement; neither waits.

Commit after write: the stream is iterated with ``noack()``, so Faust does not
ack a record when the loop moves on; the sink's callback acks it once the
batch holding the record's last line was written and Kafka has the record's
alert events (then the device's state may be saved). Faust commits, every
``commit_interval``, the highest offset below which every record is acked,
so a committed offset never covers a line InfluxDB does not have, while the
agent goes on to the next record at once and the sink still batches across
records. On a rebalance or a stop, Faust waits for every record in flight to
be acked (``stream_wait_empty``) before it commits and lets the partitions go.

When the state goes to the changelog is :class:`~stream_processor.tables.StateCheckpoints`'
business. A record that cannot be decoded or processed is logged with its key,
counted and acked, and the loop goes on: one bad record never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterable, Callable
from typing import Any

import faust
from faust.types import EventT, TableT

from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.records import decode_device_record
from stream_processor.device_state import DeviceState
from stream_processor.processor_stats import ProcessorStats
from stream_processor.rules.feed import RulesFeed
from stream_processor.rules.progress import PartitionProgress
from stream_processor.scoring import RecordScorer
from stream_processor.sink import InfluxSink, MinuteAggregates, pipeline_line
from stream_processor.tables import StateCheckpoints
from stream_processor.topics import ProcessorTopics

__all__ = ["register_agents", "publish_alerts", "acker"]

log = logging.getLogger(__name__)


def register_agents(
    app: faust.App,
    topics: ProcessorTopics,
    table: TableT,
    scorer: RecordScorer,
    sink: InfluxSink,
    stats: ProcessorStats,
    feed: RulesFeed,
    progress: PartitionProgress,
    *,
    state_save_interval_s: float,
) -> StateCheckpoints:
    """Attach the scoring agent, the stats timer and the state-saving hooks to ``app``."""
    checkpoints = StateCheckpoints(table, state_save_interval_s)
    aggregates = MinuteAggregates()

    @app.agent(topics.readings, name="score-readings")
    async def score_readings(stream: AsyncIterable[EventT]) -> None:
        await feed.ready.wait()  # never judge readings without the rules
        events = stream.noack().events()  # type: ignore[attr-defined]
        async for event in events:
            raw_key = event.key
            message = event.message
            try:
                record = decode_device_record(event.value)
                key = raw_key if isinstance(raw_key, bytes) else record.key.encode()
                progress.seen(message.partition, message.offset, record)
                checkpoints.before(key)
                state: DeviceState | None = checkpoints.state(key)
                if state is None:
                    state = DeviceState()
                state.partition = message.partition
                agg_lines = aggregates.add(record, state)
                result = scorer.process(record, state)
            except Exception:  # noqa: BLE001 - counted and logged; the next record goes on
                stats.records_failed += 1
                log.exception("cannot process readings record key=%r offset=%s", raw_key,
                              event.message.offset)
                event.ack()
                continue
            stats.records += 1
            stats.readings += len(record.readings)
            stats.scored += result.scored
            delivered = await publish_alerts(topics, result.alerts, stats) if result.alerts else None
            stored = checkpoints.after(key, message.partition, state, alert=bool(result.alerts))
            if agg_lines:
                result.lines.extend(agg_lines)
                stats.minute_aggregates += len(agg_lines)
            await sink.write(result.lines, acker(event.ack, stored, delivered, f"offset={message.offset}"))

    async def save_states(*_: Any, **__: Any) -> None:
        saved = await checkpoints.save_all(app.producer.flush)
        log.info("saved %d device states to the changelog", saved)

    # Both run after Faust waited for every record in flight to be acked.
    app.on_partitions_revoked.connect(save_states)
    app.on_before_shutdown.connect(save_states)

    async def log_assignment(_app: Any, assigned: Any, **__: Any) -> None:
        mine = sorted(tp.partition for tp in assigned if tp.topic == topics.readings.get_topic_name())
        log.info("assigned readings partitions %s", mine)

    app.on_partitions_assigned.connect(log_assignment)  # type: ignore[arg-type]  # signal stubs

    instance = f"{socket.gethostname()}-{os.getpid()}"

    @app.timer(interval=scorer.config.stats_interval_s)
    async def log_stats() -> None:
        stats.state_saves = checkpoints.saves
        log.info("processor stats %s sink %s", stats.snapshot(), sink.stats.snapshot())
        counters = {
            "readings_in": stats.readings,
            "records_failed": stats.records_failed,
            "alerts_opened": stats.alerts_opened,
            "sink_lines_pending": sink.pending_lines,
            "lag": _readings_lag(app, topics.readings.get_topic_name()),
        }
        await sink.write([pipeline_line("processor", instance, counters, int(time.time() * 1000))])

    return checkpoints


async def publish_alerts(topics: ProcessorTopics, alerts: list[AlertEvent],
                   stats: ProcessorStats) -> asyncio.Future[Any]:
    """Hand alert events to the producer; returns the future of Kafka having them all."""
    pending = []
    for alert in alerts:
        pending.append(await topics.alerts.send(key=alert.id.encode(), value=alert.encode()))
        if alert.state == "open":
            stats.alerts_opened += 1
            log.info("alert open %s: %s/%s/%s %s", alert.id, alert.site, alert.gateway,
                     alert.device, alert.message)
        else:
            stats.alerts_resolved += 1
            log.info("alert %s %s", alert.state, alert.id)
    return asyncio.gather(*pending)


def acker(ack: Callable[[], None], stored: Callable[[], None],
          delivered: asyncio.Future[Any] | None, what: str) -> Callable[[], None]:
    """What the sink calls once a record's (or a sweep's) lines are written: once its alert
    events are delivered too, let the state checkpoint know and ack it for the next commit."""

    def finish(_: object = None) -> None:
        if delivered is not None and (delivered.cancelled() or delivered.exception() is not None):
            # Not acked: the offset stays uncommitted and the record is read again after a restart.
            log.error("alert events of %s not delivered: %r", what,
                      delivered if delivered.cancelled() else delivered.exception())
            return
        stored()
        ack()

    def on_written() -> None:
        if delivered is None or delivered.done():
            finish()
        else:
            delivered.add_done_callback(finish)

    return on_written


def _readings_lag(app: faust.App, topic: str) -> int:
    """Records on this worker's ``readings`` partitions past its committed offsets.

    Faust keeps the committed offsets without a public getter; a partition
    with nothing committed or fetched yet counts as no lag until it has both.
    """
    consumer = app.consumer
    lag = 0
    for tp in consumer.assignment():
        if tp.topic != topic:
            continue
        committed = consumer._committed_offset.get(tp)  # type: ignore[attr-defined]  # see docstring
        high = consumer.highwater(tp)
        if committed is not None and high is not None:
            lag += max(0, high - committed)
    return lag
