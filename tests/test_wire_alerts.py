"""Every way a record on ``alerts`` can be wrong is one FrameError with a reason."""

from __future__ import annotations

import json

import pytest

from parkwatch.errors import FrameError
from parkwatch.wire.alerts import AlertEvent

GOOD = AlertEvent(
    "a1", "open", "anomaly", "r", "warning", "north", "gw", "gas", "ch4", 1, 2, 1.5, None, None, None, "m"
)


def _with(**changes: object) -> bytes:
    doc = json.loads(GOOD.encode())
    doc.update(changes)
    return json.dumps(doc).encode()


def test_valid_event_round_trips() -> None:
    assert AlertEvent.decode(GOOD.encode()) == GOOD


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"garbage", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "bad_fields"),
        (b'"text"', "bad_fields"),
        (_with(v=2), "bad_version"),
        (_with(colour="red"), "bad_fields"),
        (b'{"v": 1, "id": "a1"}', "bad_fields"),
        (_with(state="exploded"), "bad_value"),
        (_with(severity="loud"), "bad_value"),
        (_with(id=""), "bad_value"),
        (_with(message=None), "bad_value"),
        (_with(site=7), "bad_value"),
        (_with(started_ms="1"), "bad_value"),
        (_with(updated_ms=True), "bad_value"),
        (_with(updated_ms=-1), "bad_value"),
        (_with(updated_ms=2**64), "bad_value"),
        (_with(value="high"), "bad_value"),
        (_with(value=10**30), "bad_value"),
        (_with(value=True), "bad_value"),
        (GOOD.encode().replace(b'"value": 1.5', b'"value": NaN'), "bad_value"),
        (GOOD.encode().replace(b'"value": 1.5', b'"value": Infinity'), "bad_value"),
    ],
)
def test_malformed_record_is_one_frame_error(data: bytes | None, reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        AlertEvent.decode(data)
    assert caught.value.reason == reason
