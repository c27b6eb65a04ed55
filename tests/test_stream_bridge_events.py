"""Bridge seq checks, gateway status and alarms against real Mosquitto and Tansu.

Duplicates are dropped and reported, a hole the gateway never fills becomes a
``gap`` event, status changes become ``online``/``offline`` events, alarms go
to ``alarms`` (bad ones to ``deadletter``), and a second bridge with the same
client id, loading the first one's state from ``bridge-seq``, neither lets a
repeat through nor reports a status or a gap again.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter

import pytest

from parkwatch.settings import Settings
from parkwatch.wire.alarms import AlarmEvent, decode_alarm, encode_alarm
from parkwatch.wire.events import GatewayEvent
from parkwatch.wire.frames import DeviceBatch, Frame, Reading, encode_frame
from parkwatch.wire.records import DeadLetter, decode_device_record
from parkwatch.wire.topics import mqtt_topic
from stream_processor.bridge import Bridge, BridgeConfig, BridgeCounters
from stream_processor.testing import consume, publish_frames

pytestmark = pytest.mark.services

T0 = 1764189600000


def _frame(site: str, seq: int) -> tuple[str, bytes]:
    devices = [DeviceBatch("dev-0", [Reading("ch4", T0 + seq * 1000, float(seq), "good")])]
    frame = Frame(site, "gw-01", seq, T0 + seq * 1000, devices)
    return mqtt_topic(site, "gw-01", "data"), encode_frame(frame)


def _alarm(site: str, seq: int) -> tuple[str, bytes]:
    alarm = AlarmEvent(site, "gw-01", "gas-01", "ch4", "ch4-high-1", "high", 1, "raised", 27.5, 25.0,
                       T0 + seq, seq)
    return mqtt_topic(site, "gw-01", "alarm"), encode_alarm(alarm)


def _status(site: str, state: str, ts_ms: int) -> tuple[str, bytes]:
    doc = {"v": 1, "state": state, "site": site, "gateway": "gw-01", "ts_ms": ts_ms, "counters": {}}
    return mqtt_topic(site, "gw-01", "status"), json.dumps(doc).encode()


def _publish_retained(settings: Settings, topic: str, payload: bytes) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


async def _bridge_session(
    settings: Settings, client_id: str, messages: list[tuple[str, bytes]], until: str, count: int,
    retained: tuple[str, bytes] | None = None,
) -> BridgeCounters:
    """Run a bridge, publish ``messages`` (then ``retained``), wait until ``counters.<until> >= count``."""
    config = BridgeConfig.model_validate({
        "client_id": client_id, "stats_interval": "1s", "health_report": "off",
        "gap_timeout": "1s", "reorder_grace": "500ms",
    })
    bridge = Bridge(settings, config)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    deadline = time.monotonic() + 30
    while not (bridge.source and bridge.source.subscribed.is_set()):
        assert time.monotonic() < deadline and not task.done(), "bridge did not subscribe"
        await asyncio.sleep(0.05)
    await asyncio.to_thread(publish_frames, settings, messages)
    if retained is not None:
        await asyncio.to_thread(_publish_retained, settings, *retained)
    while getattr(bridge.counters, until) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # let a would-be wrong event (a gap, a repeat) surface too
    stop.set()
    return await asyncio.wait_for(task, 20)


def test_repeats_gaps_status_and_alarms_become_events_and_survive_a_restart(stack: Settings) -> None:
    site = f"events-{uuid.uuid4().hex[:8]}"
    client_id = f"bridge-{site}"
    _publish_retained(stack, *_status(site, "online", T0))
    bad_alarm = (mqtt_topic(site, "gw-01", "alarm"), b'{"v": 1, "site": "nope"}')
    first = [
        *(_frame(site, s) for s in (1, 2, 3, 4, 5)), _frame(site, 5), _frame(site, 3),  # two repeats
        *(_frame(site, s) for s in (9, 10)),                                             # 6..8 never come
        _alarm(site, 1), _alarm(site, 2), _alarm(site, 2), bad_alarm,
    ]
    # The retained "online" arrives on subscribe; the retained "offline" (a last will) after the rest.
    counters = asyncio.run(_bridge_session(stack, client_id, first, "gaps", 1,
                                           retained=_status(site, "offline", T0 + 5)))
    assert (counters.duplicates, counters.gaps, counters.gap_seqs) == (3, 1, 3)
    assert (counters.frames_ok, counters.alarms_out, dict(counters.deadletter)) == (7, 2, {"schema": 1})

    # Same client id, state loaded from bridge-seq: the retained "offline" is no change,
    # 10 and alarm 2 are repeats, 11 is new and opens no gap.
    second = [_frame(site, 10), _frame(site, 11), _alarm(site, 2), _alarm(site, 3)]
    again = asyncio.run(_bridge_session(stack, client_id, second, "frames_in", len(second)))
    assert (again.duplicates, again.frames_ok, again.alarms_out, again.gaps) == (2, 1, 1, 0)

    readings = asyncio.run(consume(
        stack, "readings", lambda recs: len(recs) >= 8,
        keep=lambda rec: rec.key is not None and rec.key.startswith(site.encode()),
    ))
    assert sorted(decode_device_record(r.value).seq for r in readings) == [1, 2, 3, 4, 5, 9, 10, 11]
    alarms = asyncio.run(consume(stack, "alarms", lambda recs: len(recs) >= 3,
                                 keep=lambda rec: rec.key == f"{site}/gw-01".encode()))
    assert [decode_alarm(r.value).seq for r in alarms] == [1, 2, 3]
    letters = asyncio.run(consume(stack, "deadletter", lambda recs: len(recs) >= 1,
                                  keep=lambda rec: site in DeadLetter.decode(rec.value).mqtt_topic))
    assert [DeadLetter.decode(r.value).reason for r in letters] == ["schema"]

    def done(recs: list) -> bool:
        return len({GatewayEvent.decode(r.value).kind for r in recs}) >= 4

    events = [GatewayEvent.decode(r.value) for r in asyncio.run(consume(
        stack, "gateway-events", done, keep=lambda rec: rec.key == f"{site}/gw-01".encode()))]
    kinds = Counter(e.kind for e in events)
    assert kinds["online"] == kinds["offline"] == kinds["gap"] == 1, kinds
    [gap] = [e for e in events if e.kind == "gap"]
    assert (gap.stream, gap.from_seq, gap.to_seq, gap.count) == ("data", 6, 8, 3)
    repeats: Counter[str] = Counter()
    for e in events:
        if e.kind == "duplicate":
            assert e.stream is not None and e.count is not None
            repeats[e.stream] += e.count
    assert repeats == {"data": 3, "alarm": 2}
    assert [e.kind for e in events if e.kind in ("online", "offline")] == ["online", "offline"]
