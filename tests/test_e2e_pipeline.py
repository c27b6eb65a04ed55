"""End to end through every real service: simulator → edge → MQTT → bridge → Kafka → Faust → InfluxDB, API.

One run of the whole park (as ``parkwatch demo`` runs it, with the demo's
rules file applied through the API) with a spike injected at the simulator;
the test then checks what an operator would: the spike became an alert
readable from the API, and InfluxDB holds exactly as many readings as the
edge agents had acknowledged by the broker.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from parkwatch.demo import DEMO_GATEWAYS, DEMO_RULES
from parkwatch.influxql import influxql
from parkwatch.park import LocalPark
from parkwatch.settings import Settings
from parkwatch.testing import free_port

SPIKE_AT_S = 40  # after the detector's 30-reading warm-up


def _on_free_ports(config: Path, out_dir: Path) -> Path:
    """A copy of a demo gateway config whose Modbus devices listen on free ports."""
    doc = yaml.safe_load(config.read_text())
    ports: dict[int, int] = {}
    for device in doc["devices"]:
        device["port"] = ports.setdefault(device["port"], free_port())
    if "profiles_dir" not in doc:
        doc["profiles_dir"] = str(config.parent.parent / "profiles")
    out = out_dir / config.name
    out.write_text(yaml.safe_dump(doc))
    return out


@pytest.mark.services
def test_spike_becomes_an_alert_and_every_reading_is_stored(stack: Settings, tmp_path: Path) -> None:
    configs = [_on_free_ports(c, tmp_path) for c in DEMO_GATEWAYS]
    since_ms = int(time.time() * 1000)
    park = LocalPark(stack, tmp_path / "park", configs, [f"spike:gas-01:ch4:at={SPIKE_AT_S}s"])
    try:
        park.start()
        applied = park.apply_rules(DEMO_RULES)
        again = park.apply_rules(DEMO_RULES)
        deadline = time.monotonic() + SPIKE_AT_S + 30
        spike_alerts: list[dict[str, object]] = []
        while time.monotonic() < deadline and not spike_alerts:
            park.check_alive()
            time.sleep(1.0)
            spike_alerts = [
                a for a in park.alerts(since_ms) if a["device"] == "gas-01" and a["point"] == "ch4"
            ]
        sent = park.stop_field()
        stored = park.wait_stored(sent, since_ms, timeout_s=60)
    finally:
        # The session's later tests share the rules topic: park-wide stale and limit rules
        # would judge their points too.
        if park.backend[0].alive:
            park.remove_rules(DEMO_RULES)
        park.stop()

    assert applied and all(line.endswith(" created v1") for line in applied), applied
    assert all(line.endswith(" unchanged v1") for line in again), again
    truth = [json.loads(line) for line in park.truth_log.read_text().splitlines()]
    assert [(t["kind"], t["device"], t["point"]) for t in truth] == [("spike", "gas-01", "ch4")]
    assert spike_alerts, "the injected spike produced no alert in the API"
    alert = spike_alerts[0]
    assert truth[0]["start_ms"] <= alert["started_ms"] <= truth[0]["end_ms"] + 2000
    assert sent > 0
    assert stored == sent
    # The stream components reported their health for the pipeline dashboard, and the bridge
    # turned the gateways' periodic status into theirs (outbox depth, delivered readings).
    query = f"SELECT last(readings_in) FROM pipeline WHERE time >= {since_ms}ms GROUP BY component"
    health = influxql(stack, query)
    reported = {s["tags"]["component"]: s["values"][0][1] for s in health}
    assert set(reported) == {"bridge", "processor", "edge"}
    assert all(n > 0 for n in reported.values())
    edge = f"SELECT last(outbox_depth) FROM pipeline WHERE component = 'edge' AND time >= {since_ms}ms"
    depth = influxql(stack, edge)
    assert depth and depth[0]["values"][0][1] >= 0
    worker = f"SELECT last(lag) FROM pipeline WHERE component = 'processor' AND time >= {since_ms}ms"
    lag = influxql(stack, worker)
    assert lag and lag[0]["values"][0][1] >= 0
