"""Alarm management figures from events applied to the SQL store (SQLite here; the endpoint on
SQLite and PostgreSQL is ``tests/test_api_access.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cloud_api.alarm_metrics import PERIOD_MS, STANDING_MS, alarm_metrics
from cloud_api.db import Database
from cloud_api.sql_store import SqlAlertStore
from parkwatch.wire.alerts import AlertEvent, AlertState, alert_id

NOW = 100 * 86_400_000
SINCE = NOW - 86_400_000


def _alert(
    site: str, device: str, started_ms: int, state: AlertState = "open", **changes: object
) -> AlertEvent:
    event = AlertEvent(
        alert_id(site, "gw", device, "ch4", "anomaly_score", started_ms), state, "anomaly", "anomaly_score",
        "warning", site, "gw", device, "ch4", started_ms, started_ms, 80.0, 0.99, 10.0, 15.0, "ch4 high",
    )  # fmt: skip
    return replace(event, **changes)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlAlertStore]:
    s = SqlAlertStore(Database(f"sqlite:///{tmp_path / 'api.sqlite'}"))
    s.open()
    yield s
    s.close()


def _steps(event: AlertEvent, *steps: tuple[int, AlertState], **changes: object) -> list[AlertEvent]:
    """The event, then the same alert in ``state`` at ``t`` for each step."""
    return [event] + [replace(event, state=s, updated_ms=t, **changes) for t, s in steps]  # type: ignore[arg-type]


def test_activations_count_first_opens_and_reopens_not_escalations(store: SqlAlertStore) -> None:
    t = SINCE + 3_600_000
    chatter = _alert("north", "gas-01", t)
    # Opens, resolves and reopens three times; an escalation re-publishes it open (not an activation).
    store.apply(_steps(chatter, (t + 60_000, "resolved"), (t + 120_000, "open"), (t + 180_000, "resolved"),
                       (t + 240_000, "open")), {})  # fmt: skip
    store.apply([replace(chatter, updated_ms=t + 250_000, escalation=1)], {})
    acked = _alert("north", "gas-02", t + 1)
    store.apply(_steps(acked, (t + 5_000, "acknowledged")), {})
    before = _alert("north", "gas-03", SINCE - 10_000)  # opened before the range, resolved within
    store.apply(_steps(before, (SINCE + 10_000, "resolved")), {})
    quiet = _alert("north", "gas-04", t + 2, state="suppressed")  # opened during maintenance
    store.apply([quiet], {})
    flood = _alert("north", "", t + 3, kind="flood", rule="flood")
    standing = _alert("south", "gas-05", NOW - STANDING_MS - 1)
    store.apply([flood, standing, _alert("south", "gas-06", NOW - 5_000, state="shelved")], {})

    m = alarm_metrics(store.db, None, SINCE, NOW, NOW)
    assert m.activations == 4  # chatter x3, acked x1; not the earlier one, the suppressed or the flood
    assert m.flood_incidents == 1
    assert [(c.id, c.activations) for c in m.chattering] == [(chatter.id, 3)]
    assert [(p.device, p.activations) for p in m.bad_actors] == [("gas-01", 3), ("gas-02", 1)]
    assert len(m.periods) == 144 and sum(m.periods) == 4 and m.periods[6] == 4
    assert (m.active, m.unacknowledged, m.standing, m.shelved, m.suppressed) == (3, 2, 1, 1, 1)
    assert [(s.site, s.activations, s.active, s.unacknowledged, s.standing) for s in m.by_site] == [
        ("north", 4, 2, 1, 0),
        ("south", 0, 1, 1, 1),
    ]
    # Restricted to a site; a range without activations.
    assert alarm_metrics(store.db, ("south",), SINCE, NOW, NOW).activations == 0
    assert alarm_metrics(store.db, ("south",), SINCE, NOW, NOW).standing == 1
    empty = alarm_metrics(store.db, None, NOW, NOW + PERIOD_MS // 2, NOW)
    assert empty.activations == 0 and empty.periods == [0]


def test_a_flood_shows_as_periods_at_or_over_ten(store: SqlAlertStore) -> None:
    start = SINCE + 2 * PERIOD_MS
    store.apply([_alert("north", f"gas-{i:02d}", start + i * 1000) for i in range(12)], {})
    m = alarm_metrics(store.db, ("north",), SINCE, NOW, NOW)
    assert m.periods[2] == 12 and sum(1 for p in m.periods if p >= 10) == 1
