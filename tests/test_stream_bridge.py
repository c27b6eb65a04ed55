"""The MQTT -> Kafka bridge against real Mosquitto and Tansu.

Good frames must arrive in ``readings`` keyed by device, every kind of bad
payload must land in ``deadletter`` with its reason, and the good frames sent
around the bad ones must all still arrive.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from parkwatch.settings import Settings
from parkwatch.wire.frames import DeviceBatch, Frame, Reading, encode_frame
from parkwatch.wire.records import DeadLetter, decode_device_record
from parkwatch.wire.topics import mqtt_topic
from stream_processor.bridge import Bridge, BridgeConfig, BridgeCounters
from stream_processor.testing import consume, publish_frames

pytestmark = pytest.mark.services

T0 = 1764189600000


def _good(site: str, seq: int) -> bytes:
    devices = [
        DeviceBatch(f"dev-{d}", [Reading(p, T0 + seq * 1000, float(seq + d), "good") for p in ("ch4", "h2s")])
        for d in range(3)
    ]
    return encode_frame(Frame(site, "gw-01", seq, T0 + seq * 1000, devices))


def _bad(site: str) -> list[tuple[str, bytes, str]]:
    """(topic, payload, expected reason) for each kind of bad message."""
    topic = mqtt_topic(site, "gw-01", "data")
    good = json.loads(_good(site, 99))
    nan = _good(site, 98).replace(b"98.0", b"NaN", 1)
    assert b"NaN" in nan
    return [
        (topic, b"this is not json", "not_json"),
        (topic, json.dumps({**good, "devices": "nope"}).encode(), "schema"),
        (topic, nan, "nan"),
        (topic, json.dumps({**good, "v": 9}).encode(), "unknown_version"),
        (topic, b"[" + b"0," * 600_000 + b"0]", "oversize"),
        (mqtt_topic(site, "gw-02", "data"), _good(site, 97), "topic_mismatch"),
    ]


async def _run_bridge(settings: Settings, site: str, messages: list[tuple[str, bytes]]) -> BridgeCounters:
    stop = asyncio.Event()
    bridge = Bridge(settings, BridgeConfig.model_validate(
        {"client_id": f"test-{site}", "session": "clean", "stats_interval": "1s"}
    ))
    task = asyncio.create_task(bridge.run(stop))
    deadline = time.monotonic() + 20
    while not (bridge.source and bridge.source.subscribed.is_set()):
        assert time.monotonic() < deadline and not task.done(), "bridge did not subscribe"
        await asyncio.sleep(0.05)
    await asyncio.to_thread(publish_frames, settings, messages)
    while _data_in(bridge.counters) < len(messages) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    return await asyncio.wait_for(task, 20)


def _data_in(counters: BridgeCounters) -> int:
    """Data-topic messages taken in: earlier tests leave retained gateway statuses on the broker."""
    return counters.frames_in - counters.status_in - counters.alarms_in


def test_good_frames_arrive_keyed_by_device_and_bad_ones_are_dead_lettered(stack: Settings) -> None:
    site = f"bridge-{uuid.uuid4().hex[:8]}"
    bad = _bad(site)
    messages: list[tuple[str, bytes]] = []
    for seq in range(10):  # a good frame before and after every bad one
        messages.append((mqtt_topic(site, "gw-01", "data"), _good(site, seq)))
        if seq < len(bad):
            messages.append(bad[seq][:2])

    counters = asyncio.run(_run_bridge(stack, site, messages))

    reasons = {reason: 1 for _, _, reason in bad}
    assert _data_in(counters) == len(messages)
    assert dict(counters.deadletter) == reasons
    assert (counters.records_out, counters.readings_out, counters.produce_lost) == (30, 60, 0)

    readings = asyncio.run(consume(
        stack, "readings", lambda recs: len(recs) >= 30,
        keep=lambda rec: rec.key is not None and rec.key.startswith(site.encode()),
    ))
    assert len(readings) == 30
    by_key: dict[bytes, list[int]] = {}
    for rec in readings:
        record = decode_device_record(rec.value)
        assert rec.key == record.key.encode()
        assert [r.point for r in record.readings] == ["ch4", "h2s"]
        by_key.setdefault(rec.key, []).append(record.seq)
    assert sorted(by_key) == [f"{site}/gw-01/dev-{d}".encode() for d in range(3)]
    assert all(seqs == list(range(10)) for seqs in by_key.values()), "per-device order is kept"

    letters = asyncio.run(consume(
        stack, "deadletter", lambda recs: len(recs) >= len(bad),
        keep=lambda rec: site in DeadLetter.decode(rec.value).mqtt_topic,
    ))
    got = {DeadLetter.decode(rec.value).reason: rec for rec in letters}
    assert set(got) == set(reasons)
    assert got["topic_mismatch"].key == f"{site}/gw-02".encode()
    assert DeadLetter.decode(got["not_json"].value).payload == b"this is not json"
    assert "truncated" in DeadLetter.decode(got["oversize"].value).detail
