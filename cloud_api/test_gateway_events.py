"""The gateway events store and decoder on SQLite in memory (both databases, through the API and the
real topic: ``tests/test_api_gateway_events.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, replace
from typing import Any

import pytest

from cloud_api.db import Database
from cloud_api.gateway_events import (
    RETENTION_MS,
    GatewayEventQuery,
    GatewayEventStore,
    decode_gateway_event,
)
from parkwatch.errors import FrameError
from parkwatch.wire.events import GatewayEvent

T0 = 1_764_189_600_000
TOPIC = "gateway-events"


@pytest.fixture
def store() -> Iterator[GatewayEventStore]:
    db = Database("sqlite:///:memory:")
    db.open()
    yield GatewayEventStore(db)
    db.close()


def gap(site: str = "north", gateway: str = "gw-01", lo: int = 101, hi: int = 140, ts_ms: int = T0,
        stream: Any = "data") -> GatewayEvent:  # fmt: skip
    return GatewayEvent.make("gap", site, gateway, ts_ms, "bridge-1", stream=stream, from_seq=lo, to_seq=hi)


def status(kind: Any, site: str = "north", gateway: str = "gw-01", ts_ms: int = T0) -> GatewayEvent:
    return GatewayEvent.make(kind, site, gateway, ts_ms, "bridge-1", detail=f"status ts_ms={ts_ms}",
                             identity=str(ts_ms))  # fmt: skip


def raw(**changes: Any) -> bytes:
    doc = {"v": 1, **asdict(gap()), **changes}
    return json.dumps({k: v for k, v in doc.items() if v != "<drop>"}).encode()


# -- decoding -------------------------------------------------------------------------------------


def test_a_valid_event_decodes_to_itself() -> None:
    # As the bridge makes a seq_reset: the range goes back, so its count is negative.
    reset = GatewayEvent.make("seq_reset", "north", "gw-01", T0, "bridge-1", stream="data", from_seq=500,
                              to_seq=1)  # fmt: skip
    assert reset.count == -498
    for event in (gap(), status("offline"), status("online"), reset):
        assert decode_gateway_event(event.encode()) == event


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"\xff\xfe", "not_json"),
        (b"not json", "not_json"),
        (b"[" * 100_000 + b"]" * 100_000, "not_json"),
        (b"[1, 2]", "bad_version"),
        (raw(v=2), "bad_version"),
        (raw(bridge="<drop>"), "bad_fields"),
        (raw(extra=1), "bad_fields"),
        (raw(kind="exploded"), "bad_fields"),
        (raw(id=""), "bad_value"),
        (raw(id="x" * 65), "bad_value"),
        (raw(site=7), "bad_value"),
        (raw(site="north/south"), "bad_value"),
        (raw(site="north\n"), "bad_value"),
        (raw(gateway=None), "bad_value"),
        (raw(stream="video"), "bad_value"),
        (raw(stream=None), "bad_value"),
        (raw(from_seq=-(2**63) - 1), "bad_value"),
        (raw(to_seq=2**63), "bad_value"),
        (raw(count=True), "bad_value"),
        (raw(count=1.5), "bad_value"),
        (raw(ts_ms="1764189600000"), "bad_value"),
        (raw(ts_ms=-5), "bad_value"),
        (raw(bridge="b" * 256), "bad_value"),
        (raw(detail=None), "bad_value"),
    ],
)
def test_a_record_the_table_cannot_hold_is_refused(value: bytes | None, reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        decode_gateway_event(value)
    assert caught.value.reason == reason, caught.value


# -- applying -------------------------------------------------------------------------------------


def test_the_first_observation_of_an_id_wins(store: GatewayEventStore) -> None:
    first = gap()
    re_emitted = replace(first, ts_ms=T0 + 60_000, bridge="bridge-2", detail="again")
    result = store.apply([first, re_emitted, first], {(TOPIC, 0): 3}, now_ms=T0)
    assert (result.recorded, result.duplicates) == (1, 2)
    assert store.query(GatewayEventQuery()).items == [first]
    # Another bridge saw it earlier (its record arrived later): the earlier one is kept.
    earlier = replace(first, ts_ms=T0 - 1000, bridge="bridge-3")
    assert store.apply([earlier], {(TOPIC, 0): 4}, now_ms=T0).recorded == 1
    page = store.query(GatewayEventQuery())
    assert (page.total, page.items) == (1, [earlier])


def test_positions_are_stored_with_the_events_and_never_go_back(store: GatewayEventStore) -> None:
    store.apply([gap()], {(TOPIC, 0): 5, (TOPIC, 1): 2}, now_ms=T0)
    store.apply([], {(TOPIC, 0): 3}, now_ms=T0)
    assert store.positions(TOPIC) == {0: 5, 1: 2}
    assert store.positions("alerts") == {}


def test_retention_expired_events_are_not_stored_and_old_ones_pruned(store: GatewayEventStore) -> None:
    now = T0 + RETENTION_MS
    old, young = gap(lo=1, hi=1, ts_ms=T0 - 1), gap(lo=2, hi=2, ts_ms=T0 + 1000)
    assert store.apply([old, young], {}, now_ms=now).expired == 1
    store.apply([gap(lo=3, hi=3, ts_ms=T0 + 10)], {}, now_ms=T0 + 10)
    assert store.prune(now_ms=now + 100) == 1
    assert [e.from_seq for e in store.query(GatewayEventQuery()).items] == [2]


# -- querying -------------------------------------------------------------------------------------


def test_filters_scope_and_pages(store: GatewayEventStore) -> None:
    events = [
        gap("north", "gw-01", 1, 5, T0),
        gap("north", "gw-02", 1, 1, T0 + 1, stream="alarm"),
        status("offline", "north", "gw-01", T0 + 2),
        status("online", "north", "gw-01", T0 + 3),
        gap("south", "gw-01", 7, 9, T0 + 4),
        status("offline", "south", "gw-09", T0 + 4),
    ]
    store.apply(events, {}, now_ms=T0)

    def ids(**kwargs: Any) -> list[str]:
        return [e.id for e in store.query(GatewayEventQuery(**kwargs)).items]

    newest_first = sorted(events, key=lambda e: (e.ts_ms, e.id), reverse=True)
    assert ids() == [e.id for e in newest_first]
    assert ids(kinds=("gap",)) == [events[4].id, events[1].id, events[0].id]
    assert ids(kinds=("offline", "online"), site="north") == [events[3].id, events[2].id]
    assert ids(site="north", gateway="gw-01") == [events[3].id, events[2].id, events[0].id]
    assert ids(since_ms=T0 + 2, until_ms=T0 + 4) == [events[3].id, events[2].id]
    assert ids(sites=frozenset({"south"})) == [e.id for e in newest_first if e.site == "south"]
    assert ids(sites=frozenset({"south"}), site="north") == []
    assert ids(sites=frozenset()) == []

    seen: list[str] = []
    after = None
    while True:
        page = store.query(GatewayEventQuery(limit=2, after=after))
        assert page.total == len(events)
        seen += [e.id for e in page.items]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == [e.id for e in newest_first]
