"""The edge agent against real Mosquitto, reading the real field simulator over Modbus TCP.

The end-to-end test runs both command lines as a user would
(``parkwatch simulate`` and ``parkwatch edge run``) and watches the MQTT
topics with a plain paho subscriber.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from edge_agent.agent import EdgeAgent
from edge_agent.config import load_gateway
from field_sim.simulator import FieldSimulator
from field_sim.threaded import SimulatorThread
from parkwatch.settings import Settings
from parkwatch.testing import free_port
from parkwatch.wire.frames import Frame, decode_frame

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "firmware_configs" / "profiles"


class Collector:
    """Subscribes (QoS 1) before the test acts and keeps every message."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def frames(self) -> list[Frame]:
        with self._lock:
            return [decode_frame(p) for t, p, _ in self.messages if t.endswith("/data")]

    def statuses(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/status")]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def device(dev: str, profile: str, port: int, **extra: object) -> dict[str, object]:
    return {"id": dev, "driver": "modbus_tcp", "host": "127.0.0.1", "port": port, "unit_id": 1,
            "profile": profile, "poll_interval": "500ms", "timeout": "300ms", **extra}  # fmt: skip


def write_config(path: Path, gateway: str, devices: list[dict[str, object]], state_dir: Path) -> Path:
    doc = {
        "site": "e2e",
        "gateway": gateway,
        "profiles_dir": str(PROFILES),
        "state_dir": str(state_dir),
        "uplink": {"frame_interval": "500ms", "flush_timeout": "5s"},
        "devices": devices,
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def wait_listening(port: int, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


def parkwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "parkwatch", *args]


def test_simulator_and_agent_end_to_end(stack: Settings, tmp_path: Path) -> None:
    gas_port, pt_port, dead_port = free_port(), free_port(), free_port()
    live = [device("gas-01", "gas_detector", gas_port), device("pt-01", "temp_pressure_transmitter", pt_port)]
    sim_config = write_config(tmp_path / "sim.yaml", "gw-e2e", live, tmp_path / "state")
    agent_config = write_config(
        tmp_path / "agent.yaml",
        "gw-e2e",
        [*live, device("dead-01", "gas_detector", dead_port)],
        tmp_path / "state",
    )
    truth_log = tmp_path / "truth.jsonl"
    collector = Collector(stack, "parkwatch/e2e/gw-e2e/#")
    sim = subprocess.Popen(
        parkwatch("simulate", "--gateway-config", str(sim_config), "--seed", "5", "--tick", "250ms",
                  "--inject", "spike:gas-01:ch4:at=5s:duration=2s", "--truth-log", str(truth_log)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_listening(gas_port)
        wait_listening(pt_port)
        agent = subprocess.run(
            parkwatch("edge", "run", "--config", str(agent_config), "--duration", "7"),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        sim.send_signal(signal.SIGTERM)
        sim_out, sim_err = sim.communicate(timeout=20)
    assert sim.returncode == 0, sim_err
    assert sim_out.strip().splitlines()[
        -1
    ] == "simulate: stopped after {} ticks, 1 anomalies injected".format(
        re.search(r"after (\d+) ticks", sim_out).group(1)  # type: ignore[union-attr]
    )
    assert agent.returncode == 0, agent.stderr
    last = agent.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"readings_sent=(\d+) frames_sent=(\d+)", last)
    assert match, agent.stdout
    readings_sent, frames_sent = int(match.group(1)), int(match.group(2))

    # Every acknowledged frame arrived, decodes, and seq goes up by one per frame.
    assert collector.wait_for(lambda: len(collector.frames()) >= frames_sent)
    assert collector.wait_for(lambda: [s["state"] for s in collector.statuses()][-1:] == ["offline"])
    frames = collector.frames()
    assert len(frames) == frames_sent
    assert sum(f.reading_count for f in frames) == readings_sent
    seqs = [f.seq for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    by_point: dict[tuple[str, str], list[tuple[int, float | None, str]]] = {}
    for frame in frames:
        for batch in frame.devices:
            for r in batch.readings:
                by_point.setdefault((batch.device, r.point), []).append((r.ts_ms, r.value, r.quality))

    # Healthy devices: plausible values at their cadence, although a dead device shares the gateway.
    temperature = by_point[("pt-01", "temperature")]
    assert all(q == "good" and v is not None and 70 < v < 100 for _, v, q in temperature)
    assert all(q == "good" and v is not None and 1.0 < v < 2.2 for _, v, q in by_point[("pt-01", "pressure")])
    gas = by_point[("gas-01", "ch4")]
    assert len(gas) >= 10  # ~14 polls in 7 s at 500 ms
    gaps = [b[0] - a[0] for a, b in zip(gas, gas[1:], strict=False)]
    # A poll that overruns skips its slot, so allow one missed slot on a busy machine.
    assert 450 <= statistics.median(gaps) <= 600 and max(gaps) < 1100, gaps

    # The dead device reports comm_loss, never a value, for every point, and is backed off.
    dead = [r for (dev, _), rs in by_point.items() if dev == "dead-01" for r in rs]
    assert dead and all(v is None and q == "comm_loss" for _, v, q in dead)
    assert {p for dev, p in by_point if dev == "dead-01"} == {"ch4", "h2s", "fault"}
    dead_polls = len(by_point[("dead-01", "ch4")])
    assert 2 <= dead_polls < len(gas)

    # The injected spike is in the readings, within the truth window and only there.
    (truth,) = [json.loads(line) for line in truth_log.read_text().splitlines()]
    assert (truth["kind"], truth["device"], truth["point"], truth["magnitude"]) == (
        "spike",
        "gas-01",
        "ch4",
        40.0,
    )
    # Margins of 100 ms: a poll and a tick that fall in the same instant may see either value.
    inside = [v for ts, v, _ in gas if truth["start_ms"] + 100 <= ts < truth["end_ms"] - 100]
    outside = [v for ts, v, _ in gas if ts < truth["start_ms"] - 300 or ts > truth["end_ms"] + 300]
    assert len(inside) >= 3 and all(v is not None and v > 35 for v in inside), (truth, gas)
    assert outside and all(v is not None and v < 5 for v in outside)

    # Status: retained online at start, offline with the final counters at the end.
    statuses = collector.statuses()
    assert statuses[0]["state"] == "online" and statuses[0]["v"] == 1
    final = statuses[-1]
    assert (final["site"], final["gateway"]) == ("e2e", "gw-e2e")
    assert final["counters"]["readings_acked"] == readings_sent
    assert final["counters"]["frames_acked"] == frames_sent
    assert final["counters"]["devices_offline"] == 1 and final["counters"]["poll_errors"] == dead_polls
    collector.close()
    retained = Collector(stack, "parkwatch/e2e/gw-e2e/status")
    assert retained.wait_for(lambda: bool(retained.statuses()), 5)
    assert retained.statuses() == [final] and retained.messages[0][2] is True
    retained.close()


def test_seq_continues_across_agent_restarts(stack: Settings, tmp_path: Path) -> None:
    port = free_port()
    devices = [device("pt-01", "temp_pressure_transmitter", port)]
    config = write_config(tmp_path / "gw.yaml", "gw-restart", devices, tmp_path / "state")
    gateway = load_gateway(config)
    collector = Collector(stack, "parkwatch/e2e/gw-restart/#")
    with SimulatorThread(FieldSimulator([gateway], tick_s=0.25)):
        first = asyncio.run(EdgeAgent(gateway, stack).run(duration_s=1.6))
        second = asyncio.run(EdgeAgent(gateway, stack).run(duration_s=1.6))
    assert first.all_acked and second.all_acked
    total = first.frames_acked + second.frames_acked
    assert collector.wait_for(lambda: len(collector.frames()) >= total)
    seqs = [f.seq for f in collector.frames()]
    assert seqs == list(range(1, total + 1))
    assert (tmp_path / "state" / "e2e.gw-restart.seq").read_text() == f"{total}\n"
    assert collector.wait_for(lambda: [s["state"] for s in collector.statuses()] == ["online", "offline"] * 2)
    collector.close()


def test_cli_rejects_a_bad_config_before_polling(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: s\ngateway: g\ndevices: [{id: d, driver: modbus_udp, port: 1}]\n")
    result = subprocess.run(
        parkwatch("edge", "run", "--config", str(bad)), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"parkwatch: {bad}: devices[0].driver: unknown driver; known drivers: "
        "modbus_rtu, modbus_tcp, mqtt_sensor, serial_ascii (got 'modbus_udp')"
    )
