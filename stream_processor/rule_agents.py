"""The rule engine's work outside the readings stream: the stale sweep and gateway rules.

* ``sweep-points`` timer, on every worker: each device state of the
  ``readings`` partitions this worker owns is swept for stale rules and for
  rules that went away (:meth:`RuleEngine.sweep`), against the partition's
  reference time (:class:`~stream_processor.rules.progress.PartitionProgress`).
  Alert events go to Kafka and InfluxDB and the device state is saved once
  both have them, as for a record.
* ``gateway-rules`` agent on ``gateway-events`` (one partition, so one worker
  of the group) with its state in the ``gateway-rule-state`` table, and a
  timer on the owner of that partition for rules with a delay.

Both wait until the rules are loaded: an empty rule book would resolve every
open rule alert as "no longer applies".
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable

import faust
from faust.types import TP, EventT, TableT

from parkwatch.errors import FrameError
from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.events import GatewayEvent
from parkwatch.wire.records import DeviceRecord
from stream_processor.agents import acker, publish_alerts
from stream_processor.device_state import DeviceState
from stream_processor.processor_stats import ProcessorStats
from stream_processor.rules.engine import RuleEngine
from stream_processor.rules.feed import RulesFeed
from stream_processor.rules.gateways import GatewayRules, GatewayState
from stream_processor.rules.progress import PartitionProgress
from stream_processor.sink import InfluxSink
from stream_processor.sink.line_protocol import alert_line
from stream_processor.tables import StateCheckpoints
from stream_processor.topics import ProcessorTopics

__all__ = ["register_rule_agents"]

log = logging.getLogger(__name__)


def register_rule_agents(
    app: faust.App,
    topics: ProcessorTopics,
    checkpoints: StateCheckpoints,
    gateway_table: TableT,
    engine: RuleEngine,
    feed: RulesFeed,
    progress: PartitionProgress,
    sink: InfluxSink,
    stats: ProcessorStats,
    *,
    sweep_interval_s: float,
) -> None:
    """Attach the sweep timer, the gateway agent and its timer to ``app``."""
    readings = topics.readings.get_topic_name()
    gateway_tp = TP(topics.gateway_events.get_topic_name(), 0)
    gateways = GatewayRules(engine.book)

    async def emit(events: list[AlertEvent], stored: object, what: str) -> None:
        delivered = await publish_alerts(topics, events, stats)
        await sink.write([alert_line(e) for e in events], acker(lambda: None, stored, delivered, what))  # type: ignore[arg-type]

    @app.timer(interval=sweep_interval_s, name="sweep-points")
    async def sweep_points() -> None:
        if not feed.ready.is_set():
            return
        consumer = app.consumer
        now_ms = int(time.time() * 1000)
        refs: dict[int, int | None] = {}
        for tp in consumer.assignment():
            if tp.topic == readings:
                committed = consumer._committed_offset.get(tp)  # type: ignore[attr-defined]  # no public getter
                refs[tp.partition] = progress.reference_ms(tp.partition, consumer.highwater(tp), committed,
                                                           now_ms)
        progress.forget(lambda p: p not in refs)
        for key, state in checkpoints.items():
            ref = refs.get(state.partition) if isinstance(state, DeviceState) else None
            if ref is None:
                continue
            site, gateway, device = key.decode().split("/", 2)
            record = DeviceRecord(site, gateway, device, 0, [])
            events: list[AlertEvent] = []
            for point, ps in state.points.items():
                events.extend(engine.sweep(record, point, ps, ref))
            if events:
                # Not saved at once (alert=False): a new stale rule can open alerts on thousands
                # of silent devices in one sweep, and a forced save of each device's state (KBs
                # per point) at once flooded the changelog. A sweep's events are a function of
                # the state and the reference time, so after a crash the next owner re-emits
                # the same ids.
                stored = checkpoints.after(key, state.partition, state, alert=False)
                await emit(events, stored, f"the sweep of {key!r}")

    def gateway_state(key: bytes) -> GatewayState:
        state = gateway_table.get(key)
        if state is None:
            site, gateway = key.decode().split("/", 1)
            state = GatewayState(site, gateway)
        return state

    def save(key: bytes, state: GatewayState) -> None:
        gateway_table.send_changelog(0, key, state)
        gateway_table.data[key] = state

    @app.agent(topics.gateway_events, name="gateway-rules")
    async def gateway_rules(stream: AsyncIterable[EventT]) -> None:
        await feed.ready.wait()
        async for event in stream.events():  # type: ignore[attr-defined]
            try:
                gw_event = GatewayEvent.decode(event.value)
            except (FrameError, ValueError, TypeError) as exc:
                stats.records_failed += 1
                log.error("gateway event at offset %s refused: %s", event.message.offset, exc)
                continue
            if gw_event.kind not in ("offline", "online"):
                continue
            key = gw_event.key
            state = gateway_state(key)
            events = gateways.on_event(gw_event, state, int(time.time() * 1000))
            save(key, state)
            if events:
                # Waits for Kafka before the next event: the offset is acked only after.
                await (await publish_alerts(topics, events, stats))
                await sink.write([alert_line(e) for e in events])

    @app.timer(interval=1.0, name="gateway-rule-delays")
    async def gateway_delays() -> None:
        if not feed.ready.is_set() or gateway_tp not in app.consumer.assignment():
            return
        now_ms = int(time.time() * 1000)
        for key, state in list(gateway_table.data.items()):
            events = gateways.check(state, now_ms)
            if events:
                save(key, state)
                await (await publish_alerts(topics, events, stats))
                await sink.write([alert_line(e) for e in events])
