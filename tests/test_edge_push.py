"""Push drivers in the running agent: an MQTT sensor on the real Mosquitto and an ASCII sensor
streaming on a pty, both ending up in frames on the data topic; silence becomes comm_loss; local
alarm state survives a restart of the agent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from edge_agent.agent import AgentResult, EdgeAgent
from edge_agent.config import load_gateway
from field_sim.ascii_sensor import AsciiSensorSim
from field_sim.pty_pair import PtyPair
from parkwatch.settings import Settings
from parkwatch.wire.frames import Reading
from tests.test_edge_agent import Collector

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat"),
]

PATTERN = r"^T=(?P<t>-?[0-9.]+)C RH=(?P<rh>[0-9.]+)%$"


@pytest.fixture
def line(tmp_path: Path) -> Iterator[PtyPair]:
    with PtyPair(tmp_path, "ascii") as pair:
        yield pair


def gateway_file(path: Path, gateway: str, devices: list[dict[str, Any]], **extra: Any) -> Path:
    doc = {"site": "e2e", "gateway": gateway, "state_dir": str(path.parent / "state"),
           "uplink": {"frame_interval": "200ms", "flush_timeout": "5s"},
           "devices": devices, **extra}  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return path


def mqtt_device(settings: Settings, dev: str, topic: str, **extra: Any) -> dict[str, Any]:
    return {"id": dev, "driver": "mqtt_sensor", "host": settings.mqtt_host, "port": settings.mqtt_port,
            "topics": [topic], "qos": 1, "timeout": "3s", "timestamp_path": "$.ts",
            "points": [{"name": "temp", "path": "$.data.temp"}, {"name": "rh", "path": "$.data.rh"}],
            **extra}  # fmt: skip


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()

    def send(self, topic: str, doc: dict[str, Any]) -> None:
        self.client.publish(topic, json.dumps(doc), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def run_agent(
    agent: EdgeAgent, act: Callable[[], Awaitable[None]], started_timeout_s: float = 10
) -> AgentResult:
    """Run ``agent`` until ``act`` (called once every push device listens) returns."""
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    deadline = time.monotonic() + started_timeout_s
    while not all(r.started for r in agent.push_runners):
        assert time.monotonic() < deadline, "push devices did not start"
        assert not task.done(), task
        await asyncio.sleep(0.02)
    try:
        await act()
    finally:
        stop.set()
    return await task


def by_point(collector: Collector) -> dict[tuple[str, str], list[Reading]]:
    out: dict[tuple[str, str], list[Reading]] = {}
    for frame in collector.frames():
        for batch in frame.devices:
            for r in batch.readings:
                out.setdefault((batch.device, r.point), []).append(r)
    return out


def test_mqtt_and_streaming_serial_sensors_reach_the_data_topic(
    stack: Settings, tmp_path: Path, line: PtyPair
) -> None:
    tag = uuid.uuid4().hex[:6]
    topic = f"test/push/{tag}"
    devices = [
        mqtt_device(stack, f"weather-{tag}", f"{topic}/+"),
        {"id": "th-01", "driver": "serial_ascii", "port": line.agent_end, "mode": "stream",
         "pattern": PATTERN, "stale_after": "500ms", "poll_interval": "200ms",
         "points": [{"name": "temp", "group": "t"}, {"name": "rh", "scale": 0.01}]},
    ]  # fmt: skip
    aggregate = {"step": "aggregate", "devices": [f"weather-{tag}"], "points": ["rh"], "window": "2s",
                 "emit": ["min", "max", "mean"]}  # fmt: skip
    gateway = load_gateway(
        gateway_file(tmp_path / "gw.yaml", "gw-push", devices, preprocessing=[aggregate], metrics={"port": 0})
    )
    collector = Collector(stack, "parkwatch/e2e/gw-push/#")
    publisher = Publisher(stack)
    agent = EdgeAgent(gateway, stack)
    assert agent.metrics_server is not None
    metrics_url = f"http://127.0.0.1:{agent.metrics_server.port}/metrics"
    scraped: list[str] = []
    ts0 = 1_764_189_600_000

    async def act() -> None:
        sensor = AsciiSensorSim(line.device_end, lambda: "")
        await sensor.start()
        try:
            for i in range(5):
                await asyncio.to_thread(
                    publisher.send,
                    f"{topic}/north",
                    {"ts": ts0 + i * 1000, "data": {"temp": 20 + i, "rh": 50 + i}},
                )
                sensor.send(f"T={21 + i}.50C RH=4{i}.0%\r\n")
                await asyncio.sleep(0.05)
            await asyncio.to_thread(publisher.send, f"{topic}/north", {"garbage": True})
            sensor.send(b"\xff\xfe noise\r\n")
            await asyncio.sleep(1.3)  # the ASCII sensor is silent now: comm_loss after 500 ms
            scraped.append(
                await asyncio.to_thread(lambda: urllib.request.urlopen(metrics_url).read().decode())
            )
        finally:
            await sensor.stop()

    try:
        result = asyncio.run(run_agent(agent, act))
    finally:
        publisher.close()
    assert result.all_acked
    assert collector.wait_for(lambda: [s["state"] for s in collector.statuses()][-1:] == ["offline"])
    points = by_point(collector)
    weather = points[(f"weather-{tag}", "temp")]
    assert [(r.ts_ms, r.value, r.quality) for r in weather] == [
        (ts0 + i * 1000, 20.0 + i, "good") for i in range(5)
    ]
    # rh of the MQTT sensor arrives as 2 s window aggregates (the last window closed by the timer).
    assert (f"weather-{tag}", "rh") not in points
    for stat, expected in (("min", [50, 52, 54]), ("max", [51, 53, 54]), ("mean", [50.5, 52.5, 54])):
        rows = points[(f"weather-{tag}", f"rh_{stat}")]
        assert [(r.ts_ms, r.value) for r in rows] == [(ts0 + k * 2000, v) for k, v in enumerate(expected)]
    th_temp = points[("th-01", "temp")]
    good = [r.value for r in th_temp if r.quality == "good"]
    assert good == pytest.approx([21.5, 22.5, 23.5, 24.5, 25.5])
    assert [r.value for r in points[("th-01", "rh")] if r.quality == "good"] == pytest.approx(
        [0.40, 0.41, 0.42, 0.43, 0.44]
    )
    lost = [r for r in th_temp if r.quality == "comm_loss"]
    assert 1 <= len(lost) <= 3 and all(r.value is None for r in lost), th_temp
    assert lost[0].ts_ms - max(r.ts_ms for r in th_temp if r.quality == "good") >= 450
    counters = collector.statuses()[-1]["counters"]
    assert counters["devices"] == 2 and counters["push_messages"] == 6 + 6
    assert counters["push_parse_errors"] == 2 and counters["push_stale_reports"] == len(lost)
    text = scraped[0]
    assert f'parkwatch_edge_messages_total{{device="weather-{tag}"}} 6' in text
    assert 'parkwatch_edge_parse_errors_total{device="th-01"} 1' in text
    assert 'parkwatch_edge_device_up{device="th-01"} 0' in text  # silent beyond stale_after
    assert text.count("# TYPE parkwatch_edge_device_up gauge") == 1
    collector.close()


def test_alarm_still_active_after_a_restart_is_not_raised_again(stack: Settings, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    topic = f"test/alarm/{tag}"
    device = f"gas-{tag}"
    config = gateway_file(
        tmp_path / "gw.yaml", "gw-alarm-restart", [mqtt_device(stack, device, topic)],
        alarms=[{"rule": "temp-h1", "device": device, "point": "temp", "high": 30, "hysteresis": 2}],
    )  # fmt: skip
    gateway = load_gateway(config)
    collector = Collector(stack, "parkwatch/e2e/gw-alarm-restart/alarm")
    publisher = Publisher(stack)
    now = time.time_ns() // 1_000_000

    def send_values(values: list[float], t0: int) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            for i, value in enumerate(values):
                await asyncio.to_thread(publisher.send, topic, {"ts": t0 + i * 1000, "data": {"temp": value}})
            await asyncio.sleep(0.4)

        return act

    try:
        first = EdgeAgent(gateway, stack)
        asyncio.run(run_agent(first, send_values([25.0, 35.0, 36.0], now)))
        second = EdgeAgent(gateway, stack)  # the condition is still there after the restart
        assert second.alarms.active() == ["temp-h1"]
        asyncio.run(run_agent(second, send_values([37.0, 36.0, 27.0], now + 10_000)))
        third = EdgeAgent(gateway, stack)
        assert third.alarms.active() == []
        asyncio.run(run_agent(third, send_values([26.0], now + 20_000)))
    finally:
        publisher.close()
    assert collector.wait_for(lambda: len(collector.messages) >= 2)
    time.sleep(0.3)
    events = [json.loads(p) for _, p, _ in collector.messages]
    assert [(e["state"], e["value"], e["seq"]) for e in events] == [("raised", 35.0, 1), ("cleared", 27.0, 2)]
    collector.close()
