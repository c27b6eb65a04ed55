"""At-least-once through the bridge: ``kill -9`` under load, and a share group of two.

Bridges run as ``parkwatch bridge`` subprocesses with persistent MQTT sessions,
so Mosquitto keeps what a killed bridge had not acknowledged (manual acks,
sent only after Kafka acknowledged) and what was published while it was
down, and hands it to the bridge restarted with the same client id. Every
``(gateway, seq, device)`` record must then be in ``readings``; copies are
allowed at this layer only for frames Kafka had acknowledged when the bridge
died but whose seq state had not been written yet (the stream processor's
idempotent writes absorb them), and no false ``gap`` event may appear.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from parkwatch.settings import Settings
from parkwatch.wire.events import GatewayEvent
from parkwatch.wire.frames import DeviceBatch, Frame, Reading, encode_frame
from parkwatch.wire.records import decode_device_record
from parkwatch.wire.topics import mqtt_topic
from stream_processor.testing import Component, consume, publish_frames

pytestmark = pytest.mark.services

T0 = 1764189600000
DEVICES = 4
ROUND_MESSAGES = 50


def _frames(site: str, gateways: int, frames: int) -> list[tuple[str, bytes]]:
    """Gateways' frames interleaved, each gateway in seq order."""
    out = []
    for seq in range(1, frames + 1):
        for g in range(gateways):
            gateway = f"gw-{g}"
            devices = [DeviceBatch(f"dev-{d}", [Reading(p, T0 + seq * 1000, float(seq), "good")
                                               for p in ("ch4", "h2s", "o2", "co", "t")])
                       for d in range(DEVICES)]
            out.append((mqtt_topic(site, gateway, "data"),
                        encode_frame(Frame(site, gateway, seq, T0 + seq * 1000, devices))))
    return out


class _Publisher(threading.Thread):
    """Publishes in chunks with pauses, so the bridge can be killed mid-stream."""

    def __init__(
        self, settings: Settings, messages: list[tuple[str, bytes]], chunk: int, pause_s: float
    ) -> None:
        super().__init__(daemon=True)
        self.settings, self.messages, self.chunk, self.pause_s = settings, messages, chunk, pause_s
        self.sent = 0

    def run(self) -> None:
        for i in range(0, len(self.messages), self.chunk):
            publish_frames(self.settings, self.messages[i : i + self.chunk])
            self.sent = i + self.chunk
            time.sleep(self.pause_s)


def _config(tmp_path: Path, gap_timeout_s: int) -> Path:
    path = tmp_path / "bridge.yaml"
    # Short gap deadlines, so a false gap would show within the test.
    path.write_text(f"stats_interval: 1s\ngap_timeout: {gap_timeout_s}s\nreorder_grace: 1s\n"
                    f"max_round_messages: {ROUND_MESSAGES}\nhealth_report: 'off'\n")
    return path


def _bridge(tmp_path: Path, client_id: str, *extra: str, run: int = 0, gap_timeout_s: int = 2) -> Component:
    config = _config(tmp_path, gap_timeout_s)
    bridge = Component(["bridge", "--config", str(config), "--client-id", client_id, *extra],
                       tmp_path / f"{client_id}.{run}.log")
    try:
        bridge.wait_for_log("subscribed to ", 30)  # not "subscribed topics" (aiokafka)
    except BaseException:
        bridge.stop()
        raise
    return bridge


def _forwarded(bridge: Component) -> dict[str, int]:
    """The counters a bridge logged last (its stats line or its exit line)."""
    lines = [ln for ln in bridge.log_text().splitlines()
             if "bridge stats {" in ln or "bridge stopped: {" in ln]
    return json.loads(lines[-1][lines[-1].index("{"):]) if lines else {}


def _check_readings(
    settings: Settings, site: str, gateways: int, frames: int
) -> Counter[tuple[str, int, str]]:
    expected = {(f"gw-{g}", s, f"dev-{d}") for g in range(gateways) for s in range(1, frames + 1)
                for d in range(DEVICES)}
    seen: Counter[tuple[str, int, str]] = Counter()

    def done(recs: list) -> bool:
        for rec in recs[sum(seen.values()):]:
            r = decode_device_record(rec.value)
            seen[r.gateway, r.seq, r.device] += 1
        return set(seen) >= expected

    asyncio.run(consume(settings, "readings", done, timeout_s=60,
                        keep=lambda rec: rec.key is not None and rec.key.startswith(f"{site}/".encode())))
    missing = expected - set(seen)
    assert not missing, f"{len(missing)} records never reached Kafka, e.g. {sorted(missing)[:5]}"
    assert set(seen) == expected
    return seen


def _gap_events(settings: Settings, site: str, gap_timeout_s: int = 2) -> list[GatewayEvent]:
    time.sleep(gap_timeout_s + 1.5)  # plus the reporter's period
    prefix = f"{site}/".encode()
    records = asyncio.run(consume(settings, "gateway-events", lambda recs: False, timeout_s=2,
                                  keep=lambda rec: rec.key is not None and rec.key.startswith(prefix)))
    return [e for e in (GatewayEvent.decode(r.value) for r in records) if e.kind == "gap"]


def test_a_bridge_killed_under_load_loses_nothing(stack: Settings, tmp_path: Path) -> None:
    site = f"kill-{uuid.uuid4().hex[:8]}"
    gateways, frames = 3, 300
    bridge = _bridge(tmp_path, f"bridge-{site}")
    publisher = _Publisher(stack, _frames(site, gateways, frames), chunk=30, pause_s=0.03)
    publisher.start()
    try:
        deadline = time.monotonic() + 30
        while publisher.sent < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        bridge.proc.kill()  # kill -9, mid-stream
        bridge.proc.wait()
        assert publisher.is_alive(), "the publisher finished before the kill: not mid-stream"
        publisher.join(60)
        bridge = _bridge(tmp_path, f"bridge-{site}", run=1)
        seen = _check_readings(stack, site, gateways, frames)
        assert _gap_events(stack, site) == []
    finally:
        code = bridge.stop()
    copies = sum(seen.values()) - len(seen)
    print(f"kill -9: {len(seen)} records, {copies} extra copies in Kafka")
    # At most the frames of the rounds in flight when it died (each frame = DEVICES records).
    assert copies <= 2 * ROUND_MESSAGES * DEVICES
    assert code == 0


def test_a_share_group_splits_the_load_and_a_killed_member_is_replaced_without_loss(
    stack: Settings, tmp_path: Path
) -> None:
    site = f"share-{uuid.uuid4().hex[:8]}"
    # Three gateways, so round-robin gives each bridge every other seq of every gateway:
    # without merging each other's seq state they would see holes everywhere. The
    # timeout covers the killed member's share waiting for its replacement.
    group, timeout = ["--share-group", f"g-{site}"], 8
    gateways, frames = 3, 200
    one = _bridge(tmp_path, f"b1-{site}", *group, gap_timeout_s=timeout)
    two = _bridge(tmp_path, f"b2-{site}", *group, gap_timeout_s=timeout)
    publisher = _Publisher(stack, _frames(site, gateways, frames), chunk=20, pause_s=0.03)
    publisher.start()
    try:
        deadline = time.monotonic() + 30
        while publisher.sent < 240 and time.monotonic() < deadline:
            time.sleep(0.02)
        one.proc.kill()
        one.proc.wait()
        assert publisher.is_alive(), "the publisher finished before the kill: not mid-stream"
        publisher.join(60)
        one = _bridge(tmp_path, f"b1-{site}", *group, run=1, gap_timeout_s=timeout)  # same client id
        seen = _check_readings(stack, site, gateways, frames)
        gaps = _gap_events(stack, site, timeout)
        assert gaps == [], "bridges of one group must not report each other's seqs as gaps"
    finally:
        codes = (one.stop(), two.stop())
    assert codes == (0, 0)
    split = (_forwarded(one)["frames_ok"], _forwarded(two)["frames_ok"])
    copies = sum(seen.values()) - len(seen)
    print(f"share group: frames forwarded (b1 after restart, b2) = {split}, {copies} extra copies in Kafka")
    assert all(n > 0 for n in split), split
