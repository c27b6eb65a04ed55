"""The scoring agent: a thin loop over ``readings`` records.

Per record (one device's readings from one frame): decode, fetch the device's
state from the table, score it (:class:`~stream_processor.scoring.RecordScorer`),
publish alert events keyed by alert id, hand all lines to the InfluxDB sink.
The table is written back (one changelog message) for a new device, when an
alert opened or resolved, and otherwise at most every ``state_save_interval``
per device: the state object is mutated in place, so this worker always sees
the newest state, and a worker that takes over a partition resumes from a
model at most that old (re-emitting, at worst, an alert event with the same
deterministic id).

A record that cannot be decoded or processed is logged with its key and
counted, and the loop goes on: one bad record never stops the others.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import AsyncIterable

import faust
from faust.types import EventT, TableT

from parkwatch.wire.records import decode_device_record
from stream_processor.device_state import DeviceState
from stream_processor.processor_stats import ProcessorStats
from stream_processor.scoring import RecordScorer
from stream_processor.sink import InfluxSink, pipeline_line
from stream_processor.topics import ProcessorTopics

__all__ = ["register_agents"]

log = logging.getLogger(__name__)


def register_agents(
    app: faust.App,
    topics: ProcessorTopics,
    table: TableT,
    scorer: RecordScorer,
    sink: InfluxSink,
    stats: ProcessorStats,
    *,
    state_save_interval_s: float,
) -> None:
    """Attach the scoring agent and the stats timer to ``app``."""
    # When each device's state last went to the changelog (monotonic seconds).
    # Losing this on a rebalance only means an early save.
    saved_at: dict[bytes, float] = {}

    @app.agent(topics.readings, name="score-readings")
    async def score_readings(stream: AsyncIterable[EventT]) -> None:
        events = stream.events()  # type: ignore[attr-defined]
        async for event in events:
            raw_key = event.key
            try:
                record = decode_device_record(event.value)
                key = raw_key if isinstance(raw_key, bytes) else record.key.encode()
                state: DeviceState | None = table.get(key)
                new = state is None
                if state is None:
                    state = DeviceState()
                result = scorer.process(record, state)
            except Exception:  # noqa: BLE001 - counted and logged; the next record goes on
                stats.records_failed += 1
                log.exception("cannot process readings record key=%r offset=%s", raw_key,
                              event.message.offset)
                continue
            now = time.monotonic()
            if new or result.alerts or now - saved_at.get(key, 0.0) >= state_save_interval_s:
                table[key] = state
                saved_at[key] = now
                stats.state_saves += 1
            stats.records += 1
            stats.readings += len(record.readings)
            stats.scored += result.scored
            for alert in result.alerts:
                await topics.alerts.send(key=alert.id.encode(), value=alert.encode())
                if alert.state == "open":
                    stats.alerts_opened += 1
                    log.info("alert open %s: %s/%s/%s %s", alert.id, alert.site, alert.gateway,
                             alert.device, alert.message)
                else:
                    stats.alerts_resolved += 1
                    log.info("alert %s %s", alert.state, alert.id)
            await sink.write(result.lines)

    instance = f"{socket.gethostname()}-{os.getpid()}"

    @app.timer(interval=scorer.config.stats_interval_s)
    async def log_stats() -> None:
        log.info("processor stats %s sink %s", stats.snapshot(), sink.stats.snapshot())
        counters = {
            "readings_in": stats.readings,
            "records_failed": stats.records_failed,
            "alerts_opened": stats.alerts_opened,
            "sink_lines_pending": sink.pending_lines,
        }
        await sink.write([pipeline_line("processor", instance, counters, int(time.time() * 1000))])
