"""Routing of single MQTT messages: accepted frames and every dead-letter reason."""

from __future__ import annotations

import json

import pytest

from parkwatch.wire.frames import DeviceBatch, Frame, Reading, encode_frame
from parkwatch.wire.records import DeadLetter, decode_device_record
from stream_processor.bridge.routing import route_message

TS = 1764189600000
TOPIC = "parkwatch/north/gw-01/data"


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


_GOOD = json.loads(encode_frame(_frame()))


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
        pytest.param("parkwatch/north/gw-01/status", encode_frame(_frame()), "bad_topic", id="not-data"),
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
