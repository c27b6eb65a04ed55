"""The MQTT uplink on its own, as a benchmark uses it: frames built elsewhere, acks counted."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge_agent.uplink import Uplink
from parkwatch.errors import OutboxError
from parkwatch.settings import Settings
from parkwatch.testing import free_port
from parkwatch.wire.frames import DeviceBatch, Frame, Reading, decode_frame

TS = 1_764_189_600_000


def frame(seq: int, devices: int = 10, points: int = 100) -> Frame:
    return Frame(
        "bench",
        "gw-up",
        seq,
        TS + seq,
        [
            DeviceBatch(
                f"dev-{d}", [Reading(f"p{p}", TS + seq * 1000, float(p), "good") for p in range(points)]
            )
            for d in range(devices)
        ],
    )


def subscribe(settings: Settings, topic: str) -> tuple[mqtt.Client, list[tuple[str, bytes]]]:
    got: list[tuple[str, bytes]] = []
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
    client.on_message = lambda c, u, m: got.append((m.topic, bytes(m.payload)))
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    assert ready.wait(10)
    return client, got


def wait_until(predicate: Any, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(predicate())


@pytest.mark.services
def test_frames_built_elsewhere_are_published_and_acknowledged(stack: Settings) -> None:
    client, got = subscribe(stack, "parkwatch/bench/gw-up/#")
    uplink = Uplink(stack, "bench", "gw-up", max_in_flight=8)
    uplink.start()
    assert uplink.wait_connected(10)
    started = time.monotonic()
    for seq in range(1, 51):
        uplink.publish(frame(seq))  # blocks while 8 frames await PUBACK
        assert uplink.in_flight <= 8
    assert uplink.flush(30)
    elapsed = time.monotonic() - started
    assert (uplink.frames_acked, uplink.readings_acked, uplink.frames_dropped) == (50, 50_000, 0)
    assert uplink.stop()
    assert wait_until(lambda: len(got) >= 52)  # online + 50 frames + offline
    data = [decode_frame(p) for t, p in got if t.endswith("/data")]
    assert [f.seq for f in data] == list(range(1, 51))
    status = [json.loads(p) for t, p in got if t.endswith("/status")]
    assert [s["state"] for s in status] == ["online", "offline"]
    assert status[-1]["counters"]["readings_acked"] == 50_000
    client.disconnect()
    client.loop_stop()
    print(f"uplink: {50_000 / elapsed:.0f} readings/s acknowledged (1,000 readings per frame)")


def test_full_window_pushes_back_when_the_broker_is_unreachable() -> None:
    uplink = Uplink(Settings(mqtt_port=free_port()), "bench", "gw-down", max_in_flight=3)
    uplink.start()
    for seq in range(1, 4):
        uplink.publish(frame(seq, 1, 1), timeout_s=0)
    with pytest.raises(OutboxError, match="window full"):
        uplink.publish(frame(4, 1, 1), timeout_s=0)
    started = time.monotonic()
    with pytest.raises(OutboxError):
        uplink.publish(frame(5, 1, 1), timeout_s=0.3)
    assert 0.25 < time.monotonic() - started < 2
    assert (uplink.frames_published, uplink.frames_dropped, uplink.frames_acked) == (3, 2, 0)
    assert not uplink.flush(0.1)
    assert not uplink.stop(timeout_s=0.2)


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs the mosquitto executable")
def test_frames_queued_while_the_broker_is_down_are_delivered_when_it_comes_up() -> None:
    port = free_port()
    uplink = Uplink(Settings(mqtt_port=port), "bench", "gw-late", reconnect_min_s=1, reconnect_max_s=2)
    uplink.start()
    for seq in range(1, 4):
        uplink.publish(frame(seq, 2, 5), timeout_s=0)
    assert not uplink.connected and uplink.frames_acked == 0
    broker = subprocess.Popen(
        ["mosquitto", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert uplink.flush(15)
        assert (uplink.frames_acked, uplink.readings_acked, uplink.connects) == (3, 30, 1)
        assert uplink.stop()
    finally:
        broker.terminate()
        broker.wait(10)
