"""The frame contract: round trip and every rejection reason."""

from __future__ import annotations

import json

import pytest

from parkwatch.errors import FrameError
from parkwatch.wire.frames import DeviceBatch, Frame, Reading, decode_frame, encode_frame

TS = 1_764_189_600_000


def _frame_doc(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "v": 1,
        "site": "north",
        "gateway": "gw-01",
        "seq": 7,
        "sent_ms": TS,
        "devices": [{"device": "gas-01", "readings": [["ch4", TS, 12.5, "good"]]}],
    }
    doc.update(overrides)
    return doc


def _rows(*rows: list[object]) -> bytes:
    return json.dumps(_frame_doc(devices=[{"device": "d", "readings": list(rows)}])).encode()


def test_round_trip_keeps_every_field() -> None:
    frame = Frame(
        "north",
        "gw-01",
        3,
        TS,
        [DeviceBatch("gas-01", [Reading("ch4", TS, 1.5, "good"), Reading("h2s", TS, None, "comm_loss")])],
    )
    assert decode_frame(encode_frame(frame)) == frame


def test_integer_values_become_floats() -> None:
    doc = _frame_doc(devices=[{"device": "d", "readings": [["p", TS, 3, "good"]]}])
    frame = decode_frame(json.dumps(doc).encode())
    assert frame.devices[0].readings[0].value == 3.0
    assert type(frame.devices[0].readings[0].value) is float


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe not json", "not_json"),
        (b"{", "not_json"),
        (b"[1, 2]", "not_object"),
        (json.dumps(_frame_doc(v=2)).encode(), "unknown_version"),
        (json.dumps(_frame_doc()).replace("12.5", "NaN").encode(), "nan"),
        (json.dumps(_frame_doc()).replace("12.5", "Infinity").encode(), "nan"),
        (json.dumps(_frame_doc(site="bad site/")).encode(), "schema"),
        (json.dumps(_frame_doc(seq=-1)).encode(), "schema"),
        (json.dumps(_frame_doc(seq=True)).encode(), "schema"),
        (json.dumps(_frame_doc(sent_ms=1_764_189_600)).encode(), "schema"),  # seconds, not ms
        (json.dumps(_frame_doc(devices={})).encode(), "schema"),
        (_rows(["p", TS, 1.0]), "schema"),
        (_rows(["p", TS, "1", "good"]), "schema"),
        (_rows(["p", TS, None, "good"]), "schema"),
        (_rows(["p", TS, 1.0, "fine"]), "schema"),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as info:
        decode_frame(payload)
    assert info.value.reason == reason


def test_oversize_is_rejected_before_parsing() -> None:
    with pytest.raises(FrameError) as info:
        decode_frame(b" " * 101, max_bytes=100)
    assert info.value.reason == "oversize"


def test_non_finite_value_built_in_code_is_rejected() -> None:
    frame = Frame("s", "g", 1, TS, [DeviceBatch("d", [Reading("p", TS, float("nan"), "good")])])
    with pytest.raises(ValueError):  # json refuses to encode it: it never leaves the gateway
        encode_frame(frame)
