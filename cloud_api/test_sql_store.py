"""The SQL store's contract on SQLite: upsert by newest ``updated_ms``, idempotent history, pages, positions.

The same contract against PostgreSQL is checked in ``tests/test_api_access.py``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cloud_api.db import Database
from cloud_api.sql_store import SqlAlertStore
from cloud_api.store import AlertQuery, StoreError, store_for
from parkwatch.errors import ConfigError
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent, AlertState

BASE = AlertEvent(
    id="a1",
    state="open",
    kind="anomaly",
    rule="anomaly_score",
    severity="warning",
    site="north",
    gateway="gw-01",
    device="gas-01",
    point="ch4",
    started_ms=1_000,
    updated_ms=1_000,
    value=87.1,
    score=0.99,
    expected_low=10.0,
    expected_high=15.0,
    message="ch4 = 87.1",
)


def _store(path: Path | str) -> SqlAlertStore:
    return SqlAlertStore(Database(f"sqlite:///{path}"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlAlertStore]:
    s = _store(tmp_path / "api.sqlite")
    s.open()
    yield s
    s.close()


def test_newest_updated_ms_wins_whatever_the_arrival_order(store: SqlAlertStore) -> None:
    resolved = replace(BASE, state="resolved", updated_ms=2_000)
    result = store.apply([resolved, BASE], {})
    assert (result.recorded, result.stale) == (2, 1)
    found = store.get("a1")
    assert found is not None
    assert found.alert == resolved
    assert [(h.state, h.updated_ms) for h in found.history] == [("open", 1_000), ("resolved", 2_000)]


def test_redelivered_event_changes_nothing(store: SqlAlertStore) -> None:
    store.apply([BASE], {("alerts", 0): 1})
    result = store.apply([BASE, BASE], {("alerts", 0): 3})
    assert (result.recorded, result.duplicates) == (0, 2)
    found = store.get("a1")
    assert found is not None and len(found.history) == 1
    assert store.query(AlertQuery()).total == 1


def test_positions_only_move_forward_and_survive_reopening(tmp_path: Path) -> None:
    s = _store(tmp_path / "api.sqlite")
    s.open()
    s.apply([], {("alerts", 0): 5, ("alerts", 1): 2, ("other", 0): 9})
    s.apply([], {("alerts", 0): 3})
    s.close()
    s.open()
    assert s.positions("alerts") == {0: 5, 1: 2}
    s.close()


def test_file_is_in_wal_mode(store: SqlAlertStore, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "api.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_existing_v1_file_keeps_working(tmp_path: Path) -> None:
    # A database written by the stdlib-sqlite3 store of the first release: same tables, plus new ones.
    path = tmp_path / "api.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE alerts (id TEXT PRIMARY KEY, state TEXT NOT NULL, kind TEXT NOT NULL, "
            "rule TEXT NOT NULL, severity TEXT NOT NULL, site TEXT NOT NULL, gateway TEXT NOT NULL, "
            "device TEXT NOT NULL, point TEXT NOT NULL, started_ms INTEGER NOT NULL, "
            "updated_ms INTEGER NOT NULL, value REAL, score REAL, expected_low REAL, expected_high REAL, "
            "message TEXT NOT NULL); PRAGMA user_version = 1;"
        )
        conn.execute(
            "INSERT INTO alerts VALUES ('old', 'open', 'anomaly', 'r', 'info', 'north', 'gw', 'd', 'p', "
            "1, 1, NULL, NULL, NULL, NULL, 'before group and escalation')"
        )
    s = _store(path)
    s.open()
    s.apply([replace(BASE, group="flood-1", escalation=2)], {})
    assert s.query(AlertQuery()).total == 2
    s.close()
    s.open()  # adding the new columns happens once
    old, new = s.get("old"), s.get("a1")
    assert old is not None and (old.alert.group, old.alert.escalation) == (None, 0)
    assert new is not None and (new.alert.group, new.alert.escalation) == ("flood-1", 2)
    assert [a.id for a in s.query(AlertQuery(group="flood-1")).items] == ["a1"]
    s.close()


@pytest.mark.parametrize("held", ["acknowledged", "shelved"])
def test_an_escalation_does_not_undo_an_operators_state(store: SqlAlertStore, held: AlertState) -> None:
    handled = replace(BASE, state=held, updated_ms=2_000)
    escalated = replace(BASE, updated_ms=3_000, escalation=1, severity="critical", message="escalated")
    store.apply([BASE, handled], {})
    assert store.apply([escalated], {}).recorded == 1
    found = store.get("a1")
    assert found is not None
    assert found.alert == replace(escalated, state=held)
    assert store.apply([escalated], {}).duplicates == 1  # a redelivery is still recognised
    # An escalation of an alert nobody handled opens it as it is; so does a plain re-open of a handled one.
    store.apply([replace(BASE, id="a2"), replace(BASE, id="a2", updated_ms=2_000, escalation=1)], {})
    assert (store.get("a2") or pytest.fail()).alert.escalation == 1
    store.apply([replace(BASE, state="open", updated_ms=4_000)], {})
    assert (store.get("a1") or pytest.fail()).alert.state == "open"


def test_calls_before_open_raise_store_error() -> None:
    with pytest.raises(StoreError, match="not open"):
        _store(":memory:").query(AlertQuery())


def _alerts(n: int) -> list[AlertEvent]:
    # Two alerts share each started_ms, so pages must break ties by id.
    return [
        replace(
            BASE,
            id=f"a{i:02d}",
            started_ms=1_000 + (i // 2),
            updated_ms=1_000 + (i // 2),
            device=f"dev-{i % 3}",
            severity="critical" if i % 4 == 0 else "warning",
            state="resolved" if i % 5 == 0 else "open",
        )
        for i in range(n)
    ]


def test_pages_cover_every_match_once_newest_first(store: SqlAlertStore) -> None:
    events = _alerts(11)
    store.apply(events, {})
    expected = [e.id for e in sorted(events, key=lambda e: (e.started_ms, e.id), reverse=True)]
    seen: list[str] = []
    after = None
    while True:
        page = store.query(AlertQuery(limit=4, after=after))
        assert page.total == 11
        seen += [e.id for e in page.items]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == expected


def test_pages_are_stable_while_alerts_are_updated(store: SqlAlertStore) -> None:
    events = _alerts(6)
    store.apply(events, {})
    first = store.query(AlertQuery(limit=3))
    store.apply([replace(events[0], state="resolved", updated_ms=9_999)], {})
    second = store.query(AlertQuery(limit=3, after=first.next_after))
    assert {e.id for e in first.items} | {e.id for e in second.items} == {e.id for e in events}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (AlertQuery(device="dev-1"), ["a07", "a04", "a01"]),
        (AlertQuery(states=("resolved",)), ["a05", "a00"]),
        (AlertQuery(severities=("critical",), states=("open",)), ["a08", "a04"]),
        (AlertQuery(states=("resolved", "open"), since_ms=1_003, until_ms=1_004), ["a07", "a06"]),
        (AlertQuery(site="south"), []),
    ],
)
def test_filters_combine(store: SqlAlertStore, query: AlertQuery, expected: list[str]) -> None:
    store.apply(_alerts(9), {})
    page = store.query(query)
    assert [e.id for e in page.items] == expected
    assert page.total == len(expected)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", f"sqlite:///{Path('state').absolute()}/api.sqlite"),
        ("sqlite:///relative/api.db", "sqlite:///relative/api.db"),
        ("sqlite:////abs/api.db", "sqlite:////abs/api.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://pw:secret@db:5432/parkwatch", "postgresql+psycopg://pw:secret@db:5432/parkwatch"),
    ],
)
def test_store_for_understands_urls(url: str, expected: str) -> None:
    store = store_for(Settings(api_db_url=url, state_dir=Path("state")))
    assert isinstance(store, SqlAlertStore)
    assert store.db.url == expected
    assert "secret" not in repr(store)


@pytest.mark.parametrize("url", ["mysql://db/pw", "sqlite:relative", "sqlite://", "api.sqlite"])
def test_store_for_rejects_other_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="api_db_url"):
        store_for(Settings(api_db_url=url))


@pytest.mark.parametrize("where", ["file", "memory"])
def test_close_waits_for_calls_in_flight(tmp_path: Path, where: str) -> None:
    # Closing a sqlite3 connection while another thread uses it crashes the
    # interpreter; the app's shutdown can close the store while a consumer
    # thread is still applying a batch.
    s = _store(tmp_path / "api.sqlite" if where == "file" else ":memory:")
    s.open()
    s.apply(_alerts(50), {})
    outcomes: list[str] = []

    def hammer() -> None:
        for i in range(200):
            try:
                s.query(AlertQuery(limit=50))
                s.apply([replace(BASE, id=f"h{threading.get_ident()}-{i}")], {})
            except StoreError:
                outcomes.append("closed")
                return
        outcomes.append("done")

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    s.close()
    for t in threads:
        t.join(timeout=30)
    assert len(outcomes) == 4
