"""End to end: MQTT -> ``parkwatch bridge`` -> Kafka -> ``parkwatch processor worker`` -> InfluxDB + alerts.

Both components run as subprocesses, exactly as deployed, against the session's
real Mosquitto, Tansu and InfluxDB. Gateways send ~30 normal readings per point,
then a clear spike on one point, then normal readings again: every reading must
be stored, the spike must score high, and exactly one alert must open (and
later resolve) on the ``alerts`` topic and in the ``alert`` measurement.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from parkwatch.errors import FrameError
from parkwatch.influxql import influxql, scalar
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent, alert_id
from parkwatch.wire.frames import DeviceBatch, Frame, Reading, encode_frame
from parkwatch.wire.topics import mqtt_topic
from stream_processor.testing import Component, consume, publish_frames

pytestmark = pytest.mark.services

T0 = 1764189600000
NORMAL_BEFORE = 30
NORMAL_AFTER = 14  # more than the default clear_after (10)
SPIKE_AT = NORMAL_BEFORE
GATEWAYS = ("gw-01", "gw-02")
DEVICES = ("gas-01", "gas-02")
POINTS = {"ch4": (12.5, 0.5), "h2s": (3.0, 0.2), "o2": (20.9, 0.05)}


def _frames(site: str) -> tuple[list[tuple[str, bytes]], int]:
    """Frames of every gateway for every second; returns them and the number of readings."""
    rng = random.Random(11)
    messages, count = [], 0
    for i in range(NORMAL_BEFORE + 1 + NORMAL_AFTER):
        ts = T0 + i * 1000
        for gw in GATEWAYS:
            devices = []
            for dev in DEVICES:
                readings = [
                    Reading(p, ts, round(rng.gauss(mu, sd), 3), "good") for p, (mu, sd) in POINTS.items()
                ]
                if (gw, dev, i) == ("gw-01", "gas-01", SPIKE_AT):
                    readings[0] = Reading("ch4", ts, 90.0, "good")
                if (gw, dev, i) == ("gw-02", "gas-02", 5):
                    readings[1] = Reading("h2s", ts, None, "comm_loss")
                devices.append(DeviceBatch(dev, readings))
                count += len(readings)
            messages.append((mqtt_topic(site, gw, "data"), encode_frame(Frame(site, gw, i, ts, devices))))
    return messages, count


@pytest.fixture
def pipeline(stack: Settings, tmp_path: Path) -> Iterator[tuple[Component, Component]]:
    bridge = Component(["bridge", "--client-id", f"e2e-{uuid.uuid4().hex[:6]}", "--stats-interval", "1s"],
                       tmp_path / "bridge.log")
    worker = Component(["processor", "worker", "--loglevel", "info"], tmp_path / "worker.log")
    try:
        yield bridge, worker
    finally:
        bridge.stop()
        worker.stop()


def _wait_for(what: str, check, timeout_s: float, logs: list[Component]):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {c.log_path.name}\n{c.log_text()[-2500:]}" for c in logs)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.3)


def test_readings_are_stored_scored_and_a_spike_raises_one_alert(
    stack: Settings, pipeline: tuple[Component, Component]
) -> None:
    bridge, worker = pipeline
    site = f"e2e-{uuid.uuid4().hex[:6]}"
    messages, expected = _frames(site)
    started = time.monotonic()
    bridge.wait_for_log("subscribed to parkwatch/+/+/data", 30)
    publish_frames(stack, messages)

    def stored() -> bool:
        try:
            return scalar(stack, f"SELECT count(quality) FROM reading WHERE site = '{site}'") >= expected
        except Exception:  # noqa: BLE001 - database not created yet
            return False

    _wait_for(f"{expected} readings in InfluxDB", stored, 90, [bridge, worker])
    assert scalar(stack, f"SELECT count(quality) FROM reading WHERE site = '{site}'") == expected
    assert scalar(stack, f"SELECT count(value) FROM reading WHERE site = '{site}'") == expected - 1
    stored_s = time.monotonic() - started

    spike_ts = T0 + SPIKE_AT * 1000
    spike_score = scalar(stack, f"SELECT score FROM reading WHERE site = '{site}' AND gateway = 'gw-01' "
                                f"AND device = 'gas-01' AND point = 'ch4' AND time = {spike_ts}ms")
    assert spike_score > 0.99
    scores = influxql(stack, f"SELECT score, gateway, device, point FROM reading WHERE site = '{site}'")
    high = [row for row in scores[0]["values"] if row[1] is not None and row[1] >= 0.9]
    assert high == [[spike_ts, spike_score, "gw-01", "gas-01", "ch4"]], "only the spike scores high"

    expected_id = alert_id(site, "gw-01", "gas-01", "ch4", "anomaly_score", spike_ts)
    records = asyncio.run(consume(
        stack, "alerts", lambda recs: any(AlertEvent.decode(r.value).state == "resolved" for r in recs),
        keep=lambda rec: _event_of_site(rec.value, site), timeout_s=30,
    ))
    events = [AlertEvent.decode(r.value) for r in records]
    assert [(e.id, e.state) for e in events] == [(expected_id, "open"), (expected_id, "resolved")]
    assert all(r.key == expected_id.encode() for r in records)
    opened = events[0]
    assert (opened.kind, opened.rule, opened.severity) == ("anomaly", "anomaly_score", "critical")
    assert (opened.point, opened.started_ms, opened.value) == ("ch4", spike_ts, 90.0)
    assert opened.score is not None and opened.score > 0.99
    assert events[1].updated_ms == spike_ts + 10_000

    def alert_rows() -> list[list[object]]:
        series = influxql(stack, f"SELECT id, state, score FROM alert WHERE site = '{site}'")
        return series[0]["values"] if series else []

    rows = _wait_for("2 alert points in InfluxDB", lambda: len(alert_rows()) >= 2 and alert_rows(), 10,
                     [worker])
    assert [(r[1], r[2]) for r in rows] == [(expected_id, "open"), (expected_id, "resolved")]

    assert bridge.stop() == 0, bridge.log_text()[-2000:]
    assert worker.stop() == 0, worker.log_text()[-2000:]
    assert "bridge stopped" in bridge.log_text() and "influx sink stopped" in worker.log_text()
    print(f"\n{expected} readings stored {stored_s:.1f}s after the pipeline was started")


def _event_of_site(data: bytes | None, site: str) -> bool:
    """Whether a record on the shared ``alerts`` topic is this test's (others put garbage there)."""
    try:
        return AlertEvent.decode(data).site == site
    except FrameError:
        return False
