"""Line protocol encoding: escaping rules and the reading/alert contract."""

from __future__ import annotations

import numpy as np
import pytest

from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from stream_processor.sink.line_protocol import (
    alert_line,
    encode_line,
    escape_measurement,
    escape_tag,
    format_float,
    quote_string_field,
    reading_lines,
)

TS = 1764189600000


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("plain", "plain"), ("a b", r"a\ b"), ("a,b", r"a\,b"), ("a=b", r"a\=b"), (r"a\b", r"a\b"),
     ('q"t', 'q"t')],
)
def test_tag_escaping(raw: str, escaped: str) -> None:
    assert escape_tag(raw) == escaped


@pytest.mark.parametrize("bad", ["", "two\nlines", "ends\\"])
def test_unrepresentable_tags_raise(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        escape_tag(bad)


def test_measurement_escaping_leaves_equals_alone() -> None:
    assert escape_measurement("a b,c=d") == r"a\ b\,c=d"


def test_string_fields_escape_quotes_and_backslashes() -> None:
    assert quote_string_field('he said "x" \\ done') == r'"he said \"x\" \\ done"'
    assert quote_string_field("line\nbreak") == '"line\nbreak"'


def test_floats_are_exact_and_numpy_safe() -> None:
    assert format_float(np.float64(0.1)) == "0.1"
    assert format_float(1e20) == "1e+20"
    assert format_float(7) == "7.0"


def test_encode_line_omits_none_fields_and_needs_one() -> None:
    assert encode_line("m", {"t": "x"}, {"a": None, "b": 1.5}, TS) == f"m,t=x b=1.5 {TS}"
    with pytest.raises(ValueError, match="at least one field"):
        encode_line("m", {}, {"a": None}, TS)


def test_reading_lines_follow_the_contract() -> None:
    record = DeviceRecord("north", "gw-01", "gas-01", 3, [
        Reading("ch4", TS, 12.5, "good"),
        Reading("h2s", TS, None, "comm_loss"),
        Reading("o2", TS + 1000, 20.9, "stale"),
    ])
    assert reading_lines(record, [np.float64(0.25), None, None]) == [
        f'reading,site=north,gateway=gw-01,device=gas-01,point=ch4 value=12.5,quality="good",score=0.25 {TS}',
        f'reading,site=north,gateway=gw-01,device=gas-01,point=h2s quality="comm_loss" {TS}',
        f'reading,site=north,gateway=gw-01,device=gas-01,point=o2 value=20.9,quality="stale" {TS + 1000}',
    ]


def test_alert_line_follows_the_contract() -> None:
    event = AlertEvent(
        id="44387c5e46e96a6e76ab5323", state="open", kind="anomaly", rule="anomaly_score",
        severity="critical", site="north", gateway="gw-01", device="gas-01", point="ch4",
        started_ms=TS, updated_ms=TS + 5, value=87.1, score=0.998, expected_low=10.2,
        expected_high=14.9, message='ch4 = 87.1, expected 10.2..14.9 "high"',
    )
    assert alert_line(event) == (
        "alert,site=north,gateway=gw-01,device=gas-01,point=ch4,rule=anomaly_score,severity=critical "
        'id="44387c5e46e96a6e76ab5323",state="open",value=87.1,score=0.998,'
        r'message="ch4 = 87.1, expected 10.2..14.9 \"high\""'
        f" {TS + 5}"
    )
