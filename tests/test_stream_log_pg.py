"""The stream log's order across API processes on the real (private) PostgreSQL.

:mod:`cloud_api.stream_log` promises that ``seq`` order is commit order even
when several processes write: a reader that saw ``seq = 41`` and asks for
what came after never gets 43 while 42 is still uncommitted (it would skip 42
for good, since it asks for ``seq > 43`` next). ``record`` takes a
transaction-scoped advisory lock to keep that promise. Here writers in
separate processes append while a reader polls ``read_since(last_seen)``:

* a deterministic pair: writer A holds ``seq`` N uncommitted while writer B
  appends; B must wait for A, and the reader must never see N+1 before N;
* a stress run: four writers appending concurrently, each transaction held
  open a little after its append (as the store's are: the batch's other
  events, the consumer positions); every ``seq`` the reader sees is the one
  after the last, and the final log is complete and in each writer's order;
* the alert store itself: the consumer's batches (:meth:`SqlAlertStore.apply`)
  in one process and operators' changes (``record_change``) on the same
  alerts in another: no deadlock between the stream's lock and the alerts'
  row locks.

Without the advisory lock the first two fail (B commits while A holds the seq
before it; the reader sees holes that fill later); with the lock taken at the
first append rather than before the transaction's first row, the third one
deadlocks.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import uuid
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import pytest

from cloud_api import stream_log
from cloud_api.db import Database, normalise_url
from cloud_api.sql_store import SqlAlertStore
from cloud_api.store import AlertAction, StoreError
from cloud_api.testing import PostgresUnavailable, new_database
from parkwatch.wire.alerts import AlertEvent

pytestmark = pytest.mark.services

# Spawned, not forked: each writer is a fresh interpreter with its own engine, as an API process is.
_MP = multiprocessing.get_context("spawn")


def _database() -> str:
    try:
        url = new_database(f"stream_{uuid.uuid4().hex[:8]}")
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    db = Database(normalise_url(url, Path(".")))
    db.open()  # the tables are made once, before the writers start
    db.close()
    return db.url


def _event(alert_id: str, site: str = "north", updated_ms: int = 1, state: Any = "open") -> AlertEvent:
    return AlertEvent(
        alert_id, state, "anomaly", "r", "warning", site, "gw", "d", "p", 1, updated_ms, 1.0, 0.9, 0.0, 1.0,
        "m",
    )  # fmt: skip


# -- the writers (run in their own processes) ------------------------------------------------------


def _append(url: str, writer: int, count: int, hold_max_s: float, start: EventType) -> None:
    """``count`` appends, one transaction each, kept open up to ``hold_max_s`` after the append."""
    db = Database(url)
    db.open()
    rng = random.Random(writer)
    start.wait(30)
    try:
        for i in range(count):
            with db.write() as conn:
                stream_log.record(conn, _event(f"w{writer}-{i:05d}"), now_ms=i)
                time.sleep(rng.uniform(0, hold_max_s))
    finally:
        db.close()


def _append_and_hold(url: str, appended: EventType, release: EventType) -> None:
    """Append one entry, say so, and commit only when told to."""
    db = Database(url)
    db.open()
    try:
        with db.write() as conn:
            stream_log.record(conn, _event("held"), now_ms=1)
            appended.set()
            release.wait(30)
    finally:
        db.close()


def _append_one(url: str, done: EventType) -> None:
    db = Database(url)
    db.open()
    try:
        with db.write() as conn:
            stream_log.record(conn, _event("second"), now_ms=2)
        done.set()
    finally:
        db.close()


def _consume(url: str, ids: list[str], rounds: int, start: EventType, errors: Any) -> None:
    """The consumer's part: batches with a new event for each of ``ids``, in topic order."""
    store = SqlAlertStore(Database(url))
    store.open()
    start.wait(30)
    try:
        for r in range(rounds):
            try:
                store.apply([_event(i, updated_ms=10 + 2 * r) for i in ids], {("alerts", 0): r + 1})
            except StoreError as exc:
                errors.put(f"consumer round {r}: {exc}"[:400])
    finally:
        store.close()


def _operate(url: str, ids: list[str], rounds: int, start: EventType, errors: Any) -> None:
    """Operators in another API process: one alert's change (event, action) per transaction."""
    store = SqlAlertStore(Database(url))
    store.open()
    rng = random.Random(7)
    start.wait(30)
    try:
        for r in range(rounds):
            alert = rng.choice(ids[1:])
            at = 11 + 2 * r
            try:
                store.record_change(
                    _event(alert, updated_ms=at, state="acknowledged"),
                    AlertAction(at, "ines", "acknowledge"),
                    alert,
                )
            except StoreError as exc:
                errors.put(f"operator round {r}: {exc}"[:400])
    finally:
        store.close()


# -- the tests ---------------------------------------------------------------------------------------


def _read_all(db: Database, last: int) -> list[int]:
    return [e.seq for e in stream_log.read_since(db, last, None, 10_000)]


def test_an_append_waits_for_the_one_holding_the_previous_seq() -> None:
    url = _database()
    db = Database(url)
    db.open()
    appended, release, done = _MP.Event(), _MP.Event(), _MP.Event()
    holder = _MP.Process(target=_append_and_hold, args=(url, appended, release))
    second = _MP.Process(target=_append_one, args=(url, done))
    try:
        holder.start()
        assert appended.wait(60), "writer A did not append"
        second.start()
        # B appends while A holds its seq: with the lock B waits, so the reader sees nothing yet.
        waited = not done.wait(3.0)
        seen_while_held = _read_all(db, 0)
        release.set()
        assert done.wait(30), "writer B did not finish after A committed"
        holder.join(30)
        second.join(30)
        assert waited, "B committed while A held the seq before it: seq order is not commit order"
        assert seen_while_held == [], f"the reader saw {seen_while_held} before seq 1 committed"
        assert [(e.seq, e.event.id) for e in stream_log.read_since(db, 0, None, 10)] == [
            (1, "held"),
            (2, "second"),
        ]
        assert (holder.exitcode, second.exitcode) == (0, 0)
    finally:
        release.set()
        for p in (holder, second):
            if p.is_alive():
                p.kill()
        db.close()


def test_concurrent_writers_never_show_the_reader_a_hole() -> None:
    writers, count = 4, 150
    url = _database()
    db = Database(url)
    db.open()
    start = _MP.Event()
    procs = [_MP.Process(target=_append, args=(url, w, count, 0.004, start)) for w in range(writers)]
    for p in procs:
        p.start()
    seen: list[int] = []
    holes: list[tuple[int, int]] = []
    reads = 0
    try:
        start.set()
        last = 0
        while True:
            finished = all(not p.is_alive() for p in procs)
            entries = _read_all(db, last)
            reads += 1
            for seq in entries:
                if seq != last + 1:
                    holes.append((last, seq))
                seen.append(seq)
                last = seq
            if finished and not entries:
                break
        assert [p.exitcode for p in procs] == [0] * writers
        stored = stream_log.read_since(db, 0, None, 10_000)
        total = writers * count
        assert [e.seq for e in stored] == list(range(1, total + 1)), "seqs are not 1..n"
        # Each writer's appends are in its own order.
        for w in range(writers):
            mine = [e.event.id for e in stored if e.event.id.startswith(f"w{w}-")]
            assert mine == [f"w{w}-{i:05d}" for i in range(count)]
        assert not holes, f"the reader saw {len(holes)} holes (last seen, next seen), e.g. {holes[:5]}"
        missed = sorted(set(range(1, total + 1)) - set(seen))
        assert seen == list(range(1, total + 1)), f"the reader missed {len(missed)}, e.g. {missed[:10]}"
        assert reads > 20, "the reader hardly overlapped the writers"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        db.close()


def test_the_consumer_and_an_operator_in_two_processes_do_not_deadlock() -> None:
    url = _database()
    ids = [f"a{i}" for i in range(8)]
    start = _MP.Event()
    errors = _MP.Queue()
    procs = [
        _MP.Process(target=_consume, args=(url, ids, 150, start, errors)),
        _MP.Process(target=_operate, args=(url, ids, 150, start, errors)),
    ]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(300)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert [p.exitcode for p in procs] == [0, 0]
    assert not found, f"{len(found)} transactions failed, e.g.\n" + "\n".join(found[:3])
    db = Database(url)
    db.open()
    try:
        entries = stream_log.read_since(db, 0, None, 10_000)
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert len(entries) > 150  # (events the other process had overtaken are stale: not appended)
    finally:
        db.close()
