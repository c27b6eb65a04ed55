"""When device state goes to the changelog: never ahead of what InfluxDB holds (no services needed)."""

from __future__ import annotations

import asyncio
from typing import Any

from stream_processor.tables import StateCheckpoints


class FakeTable(dict[bytes, Any]):
    """The parts of a Faust table the checkpoints use, recording the changelog."""

    def __init__(self) -> None:
        super().__init__()
        self.data = self
        self.changelog: list[tuple[int, bytes, str]] = []

    def send_changelog(self, partition: int, key: bytes, value: Any) -> None:
        self.changelog.append((partition, key, repr(value)))


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _checkpoints(interval_s: float) -> tuple[StateCheckpoints, FakeTable, Clock]:
    table, clock = FakeTable(), Clock()
    return StateCheckpoints(table, interval_s, clock=clock), table, clock  # type: ignore[arg-type]


def test_a_due_save_happens_when_the_device_has_nothing_in_flight() -> None:
    cp, table, clock = _checkpoints(2.0)
    state = ["r1"]
    stored_1 = cp.after(b"d", 3, state, alert=False)
    assert cp.state(b"d") is state and b"d" not in table, "a new device is not saved at once"
    clock.now = 3.0
    state.append("r2")
    stored_2 = cp.after(b"d", 3, state, alert=False)
    stored_1()
    assert table.changelog == [], "due, but record 2 is not stored yet"
    stored_2()
    assert table.changelog == [(3, b"d", "['r1', 'r2']")] and table[b"d"] is state
    state.append("r3")
    stored_3 = cp.after(b"d", 3, state, alert=False)
    clock.now = 3.5
    stored_3()
    assert len(table.changelog) == 1, "saved 0.5 s ago: not due"


def test_alert_records_save_once_stored_and_busy_devices_are_saved_when_overdue() -> None:
    cp, table, clock = _checkpoints(1.0)
    stored = cp.after(b"a", 0, "alerting", alert=True)
    cp.after(b"a", 0, "alerting", alert=False)  # a later record still in flight
    assert table.changelog == []
    stored()
    assert table.changelog == [(0, b"a", "'alerting'")]
    cp.after(b"b", 1, "busy", alert=False)
    clock.now = 4.9
    cp.before(b"b")
    assert len(table.changelog) == 1
    clock.now = 5.0
    cp.before(b"b")  # never idle for 5 intervals
    assert table.changelog[-1] == (1, b"b", "'busy'")


def test_save_all_sends_every_changed_state_and_flushes() -> None:
    cp, table, _ = _checkpoints(1.0)
    for partition, key in enumerate((b"x", b"y")):
        cp.after(key, partition, key.decode(), alert=False)
    flushed: list[bool] = []

    async def flush() -> None:
        flushed.append(True)

    assert asyncio.run(cp.save_all(flush)) == 2
    assert sorted(table.changelog) == [(0, b"x", "'x'"), (1, b"y", "'y'")] and flushed == [True]
    assert asyncio.run(cp.save_all(flush)) == 0 and flushed == [True]
