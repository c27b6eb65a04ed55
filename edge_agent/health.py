"""What the agent reports about itself: the samples behind ``/metrics``.

Read from the metrics server's thread while the agent runs; every value is a
plain int/float attribute or a locked read of the outbox, so no lock on the
agent's loop is needed (a scrape may see a counter one poll old).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_agent.metrics import Metric

if TYPE_CHECKING:
    from edge_agent.agent import EdgeAgent

__all__ = ["collect_metrics"]

_P = "parkwatch_edge_"


def collect_metrics(agent: EdgeAgent) -> list[Metric]:
    """Per-device poll (or message) health, outbox depth and drops, uplink publish/ack counters, alarms."""
    out: list[Metric] = []
    for r in agent.runners:
        dev = {"device": r.config.id}
        c = r.counters
        out += [
            Metric(_P + "poll_seconds", "gauge", "Duration of the device's last poll.", r.last_poll_s, dev),
            Metric(
                _P + "poll_seconds_total",
                "counter",
                "Time spent polling the device.",
                r.poll_seconds_sum,
                dev,
            ),
            Metric(_P + "polls_total", "counter", "Polls of the device.", c.polls, dev),
            Metric(_P + "poll_errors_total", "counter", "Failed polls (errors and timeouts).", c.errors, dev),
            Metric(
                _P + "poll_timeouts_total", "counter", "Polls without an answer in time.", c.timeouts, dev
            ),
            Metric(_P + "poll_retries_total", "counter", "Retried reads.", c.retries, dev),
            Metric(_P + "device_up", "gauge", "1 while the device answers.", 1 if r.online else 0, dev),
        ]
    for p in agent.push_runners:
        dev = {"device": p.config.id}
        d = p.driver.counters
        out += [
            Metric(_P + "messages_total", "counter", "Messages a push device sent.", d.messages, dev),
            Metric(_P + "parse_errors_total", "counter", "Unparsable messages.", d.parse_errors, dev),
            Metric(
                _P + "push_start_errors_total",
                "counter",
                "Failed starts of a push device.",
                p.counters.start_errors,
                dev,
            ),
            Metric(
                _P + "stale_reports_total",
                "counter",
                "comm_loss reports for silent points.",
                p.counters.stale_reports,
                dev,
            ),
            Metric(_P + "device_up", "gauge", "1 while the device answers.", 1 if p.online else 0, dev),
        ]
    ob = agent.outbox.counters()
    up = agent.uplink
    gauges = [
        ("outbox_records", "Frames and alarms waiting in the outbox.", ob["outbox_records"]),
        ("outbox_bytes", "Payload bytes waiting in the outbox.", ob["outbox_bytes"]),
        ("frames_in_flight", "Frames awaiting PUBACK.", up.in_flight),
        ("mqtt_connected", "1 while connected to the broker.", 1 if up.connected else 0),
        ("alarms_active", "Local alarms currently raised.", len(agent.alarms.active())),
    ]
    counters = [
        ("outbox_frames_dropped_total", "Frames dropped, outbox full.", ob["outbox_frames_dropped"]),
        ("outbox_readings_dropped_total", "Readings dropped, outbox full.", ob["outbox_readings_dropped"]),
        ("frames_published_total", "Frames handed to MQTT.", up.frames_published),
        ("frames_acked_total", "Frames acknowledged by the broker.", up.frames_acked),
        ("readings_acked_total", "Readings acknowledged by the broker.", up.readings_acked),
        ("frames_replayed_total", "Backlog frames sent after an outage.", agent.sender.frames_replayed),
        ("readings_replayed_total", "Backlog readings sent after an outage.", agent.sender.readings_replayed),
        ("mqtt_connects_total", "Successful MQTT connections.", up.connects),
        ("readings_collected_total", "Readings from the devices.", agent.readings_collected),
        ("readings_filtered_total", "Readings held back by preprocessing.", agent.readings_filtered),
        ("alarm_events_total", "Local alarm state changes.", agent.alarms_raised),
    ]
    out += [Metric(_P + name, "gauge", text, value) for name, text, value in gauges]
    out += [Metric(_P + name, "counter", text, value) for name, text, value in counters]
    return out
