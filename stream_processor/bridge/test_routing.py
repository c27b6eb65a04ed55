"""Routing of single MQTT messages: accepted frames and every dead-letter reason."""

from __future__ import annotations

import json

import pytest

from parkwatch.wire.alarms import AlarmEvent, decode_alarm, encode_alarm
from parkwatch.wire.events import GatewayStatus
from parkwatch.wire.frames import DeviceBatch, Frame, Reading, encode_frame
from parkwatch.wire.records import DeadLetter, decode_device_record
from stream_processor.bridge.routing import route_message

TS = 1764189600000
ROOT = "parkwatch/north/gw-01"
TOPIC = f"{ROOT}/data"


def _frame(site: str = "north", gateway: str = "gw-01") -> Frame:
    return Frame(site, gateway, 7, TS, [
        DeviceBatch("gas-01", [Reading("ch4", TS, 12.5, "good"), Reading("h2s", TS, None, "comm_loss")]),
        DeviceBatch("gas-02", [Reading("ch4", TS, 3.0, "good")]),
        DeviceBatch("empty", []),
    ])


def _route(topic: str, payload: bytes, max_frame_bytes: int = 10_000, keep: int = 100):
    return route_message(topic, payload, TS, max_frame_bytes=max_frame_bytes, deadletter_payload_bytes=keep)


def test_a_frame_becomes_one_record_per_device_keyed_by_device() -> None:
    routed = _route(TOPIC, encode_frame(_frame()))
    assert routed.reason is None
    assert [(r.topic, r.key, r.readings) for r in routed.records] == [
        ("readings", b"north/gw-01/gas-01", 2),
        ("readings", b"north/gw-01/gas-02", 1),
    ]
    record = decode_device_record(routed.records[0].value)
    assert (record.device, record.seq) == ("gas-01", 7)
    assert record.readings[1] == Reading("h2s", TS, None, "comm_loss")
    assert (routed.seq_key, routed.seq) == ("north/gw-01/data", 7)


def test_an_alarm_becomes_one_alarms_record_keyed_by_gateway() -> None:
    routed = _route("parkwatch/north/gw-01/alarm", encode_alarm(_alarm()))
    assert routed.reason is None
    [record] = routed.records
    assert (record.topic, record.key) == ("alarms", b"north/gw-01")
    assert decode_alarm(record.value) == _alarm()
    assert (routed.seq_key, routed.seq) == ("north/gw-01/alarm", 7)


def test_a_status_becomes_no_record_but_a_status() -> None:
    routed = _route("parkwatch/north/gw-01/status", _status("offline"))
    assert (routed.reason, routed.records) == (None, [])
    assert routed.status == GatewayStatus("north", "gw-01", "offline", TS)
    cleared = _route("parkwatch/north/gw-01/status", b"")
    assert (cleared.reason, cleared.records, cleared.status) == (None, [], None)


_GOOD = json.loads(encode_frame(_frame()))


def _alarm() -> AlarmEvent:
    return AlarmEvent("north", "gw-01", "gas-01", "ch4", "ch4-high-1", "high", 1, "raised", 27.5, 25.0, TS, 7)


def _status(state: str) -> bytes:
    return json.dumps({"v": 1, "state": state, "site": "north", "gateway": "gw-01", "ts_ms": TS,
                       "counters": {"frames_acked": 3}}).encode()


_ALARM = json.loads(encode_alarm(_alarm()))


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        pytest.param(TOPIC, b"\xff not json", "not_json", id="not-json"),
        pytest.param(TOPIC, b"[1, 2]", "not_object", id="not-object"),
        pytest.param(TOPIC, json.dumps({**_GOOD, "seq": "x"}).encode(), "schema", id="schema"),
        pytest.param(TOPIC, encode_frame(_frame()).replace(b"12.5", b"NaN"), "nan", id="nan"),
        pytest.param(TOPIC, json.dumps({**_GOOD, "v": 2}).encode(), "unknown_version", id="version"),
        pytest.param(TOPIC, b"{" + b" " * 20_000 + b"}", "oversize", id="oversize"),
        pytest.param("parkwatch/south/gw-01/data", encode_frame(_frame()), "topic_mismatch", id="mismatch"),
        pytest.param("parkwatch/bad id/gw-01/data", encode_frame(_frame()), "bad_topic", id="bad-topic"),
        pytest.param(f"{ROOT}/other", encode_frame(_frame()), "bad_topic", id="unknown-channel"),
        pytest.param(f"{ROOT}/status", encode_frame(_frame()), "schema", id="frame-as-status"),
        pytest.param(f"{ROOT}/alarm", b"{", "not_json", id="alarm-not-json"),
        pytest.param(f"{ROOT}/alarm", json.dumps({**_ALARM, "kind": "x"}).encode(), "schema", id="alarm-bad"),
        pytest.param("parkwatch/south/gw-01/alarm", encode_alarm(_alarm()), "topic_mismatch", id="alarm-2"),
        pytest.param(f"{ROOT}/alarm", b"{" + b" " * 20_000 + b"}", "oversize", id="alarm-oversize"),
        pytest.param("parkwatch/north/gw-02/status", _status("online"), "topic_mismatch", id="status-other"),
    ],
)
def test_bad_messages_become_one_dead_letter(topic: str, payload: bytes, reason: str) -> None:
    routed = _route(topic, payload)
    assert routed.reason == reason
    [record] = routed.records
    assert record.topic == "deadletter"
    letter = DeadLetter.decode(record.value)
    assert (letter.reason, letter.mqtt_topic, letter.received_ms) == (reason, topic, TS)
    expected_key = topic if reason == "bad_topic" else "/".join(topic.split("/")[1:3])
    assert record.key == expected_key.encode()


def test_dead_letter_payload_is_truncated_and_says_so() -> None:
    payload = b"x" * 500
    letter = DeadLetter.decode(_route(TOPIC, payload, keep=64).records[0].value)
    assert letter.payload == payload[:64]
    assert "truncated to 64 of 500 bytes" in letter.detail


def test_dead_letter_keeps_small_payloads_whole() -> None:
    letter = DeadLetter.decode(_route(TOPIC, b"nope").records[0].value)
    assert letter.payload == b"nope"
