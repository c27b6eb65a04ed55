"""The durable outbox: every frame and alarm is stored here before it is sent.

SQLite in WAL mode (stdlib ``sqlite3``), one file per gateway
(``<state_dir>/<site>.<gateway>.outbox.db``). Contract:

- **Accept.** :meth:`Outbox.put_frame` / :meth:`Outbox.put_alarm` assign the
  next sequence number and store the encoded payload in *one* transaction,
  together with the counter itself. Once they return, the record survives a
  ``kill -9`` of the agent; with ``durability="power_loss"`` (the default,
  ``synchronous=FULL``) it also survives an OS crash or power cut, because
  the commit fsyncs the WAL. ``"process_crash"`` (``synchronous=NORMAL``)
  skips that fsync: a killed process still loses nothing, a power cut may
  lose the last commits (and their seqs, so the cloud sees no gap).
  The agent commits once per frame (hundreds to thousands of readings), so
  ``FULL`` costs one fsync per frame interval, which even an SD card affords.
- **Settle.** The sender (:mod:`edge_agent.sender`) reads the oldest records,
  publishes them and calls :meth:`Outbox.settle` with the ids the broker
  acknowledged (QoS 1 PUBACK) or rejected; only then are rows deleted.
  Anything not settled is *kept* and sent again after a restart, so delivery
  is at-least-once: a crash between PUBACK and delete re-sends a frame with
  the same ``seq``, and receivers drop duplicates by ``(gateway, seq)``.
- **Two streams.** Frames (``data``) number 1, 2, 3 ... per gateway without
  gaps; alarms have a sequence of their own, so a raised alarm never makes
  a hole in the frame sequence. Alarms are read before frames.
- **Alarm state.** Which local alarm rules are active is kept in the same
  file and changed in the same transaction as the alarm event that changes
  it (:meth:`Outbox.put_alarm` with ``rule``/``active``): after a restart
  :meth:`Outbox.active_alarms` tells the evaluator what is already raised,
  so a condition still present is not raised a second time, and a state
  change is never stored without its event (or the reverse).
- **Bounded.** Payload bytes are capped at ``max_bytes``. When a new frame
  does not fit, the *oldest* unsent data frames are deleted until it does
  and counted (``frames_dropped``, ``readings_dropped``, kept in the file);
  the cloud sees them as a seq gap. Alarms are never dropped and always
  accepted, even beyond the cap.

Thread-safe: one connection guarded by a lock; the agent's event loop
inserts, the sender thread reads and deletes.

>>> ob = Outbox(None)
>>> ob.put_alarm(b'{"seq":%d}')
1
>>> ob.put_frame(b'{"seq":%d}', readings=3), ob.put_frame(b'{"seq":%d}', readings=2)
(1, 2)
>>> [(r.kind, r.seq, r.payload) for r in ob.read(after_id=0, kind="data", limit=10)]
[('data', 1, b'{"seq":1}'), ('data', 2, b'{"seq":2}')]
>>> ob.settle(acked=[2], rejected=[]); ob.depth()  # (records, payload bytes)
(2, 18)
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from parkwatch.errors import OutboxError

__all__ = ["Durability", "Outbox", "OutboxRecord"]

#: ``power_loss``: fsync every commit (survives a power cut); ``process_crash``: survives kill -9 only.
Durability = Literal["power_loss", "process_crash"]
Kind = Literal["data", "alarm"]

_KIND_CODE: Final = {"alarm": 0, "data": 1}
_CODE_KIND: Final[dict[int, Kind]] = {0: "alarm", 1: "data"}

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order, both kinds; never reused
    kind     INTEGER NOT NULL,      -- 0 alarm, 1 data
    seq      INTEGER NOT NULL,      -- the number inside the payload
    readings INTEGER NOT NULL,
    payload  BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kind ON outbox (kind, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alarm_state (rule TEXT PRIMARY KEY, since_ms INTEGER NOT NULL);
"""

_COUNTERS: Final = ("last_seq", "last_alarm_seq", "frames_dropped", "readings_dropped", "frames_rejected")


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One stored record, as the sender sees it."""

    id: int
    kind: Kind
    seq: int
    readings: int
    payload: bytes


class Outbox:
    """A bounded, durable FIFO of encoded frames and alarms; see the module docstring."""

    def __init__(
        self,
        path: Path | None,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        durability: Durability = "power_loss",
        initial_seq: int = 0,
    ) -> None:
        """Open (or create) the outbox at ``path``; ``None`` keeps it in memory (tests, doctests).

        ``initial_seq`` seeds the frame counter of a *new* file only (a gateway
        that kept its last seq elsewhere before, see :mod:`edge_agent.seq_store`).
        """
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                ":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durability == 'power_loss' else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
            with self._tx():
                for key in _COUNTERS:
                    start = initial_seq if key == "last_seq" else 0
                    self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, start))
            self._meta = {k: int(v) for k, v in self._db.execute("SELECT key, value FROM meta")}
            count, size = self._db.execute(
                "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox"
            ).fetchone()
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from exc
        self._count = int(count)
        self._bytes = int(size)

    # -- accept ---------------------------------------------------------------------------------

    def put_frame(self, template: bytes, readings: int) -> int:
        """Store a frame; returns its ``seq``.

        ``template`` is the encoded payload with ``%d`` where the seq goes
        (:func:`edge_agent.frame_builder.encode_template`), so the number is
        assigned and stored in the same transaction as the row.
        """
        return self._put("data", "last_seq", template, readings)

    def put_alarm(
        self, template: bytes, rule: str | None = None, active: bool | None = None, ts_ms: int = 0
    ) -> int:
        """Store an alarm event (``%d`` for its alarm seq); returns that seq. Never refused for size.

        With ``rule`` and ``active``, the rule's persisted state (:meth:`active_alarms`) changes
        in the same transaction: raised (since ``ts_ms``) or cleared.
        """
        state = None if rule is None or active is None else (rule, active, ts_ms)
        return self._put("alarm", "last_alarm_seq", template, 0, state)

    def active_alarms(self) -> dict[str, int]:
        """Rules raised and not cleared, as stored: ``rule id -> raised at (epoch ms)``."""
        with self._lock:
            return {str(r): int(t) for r, t in self._db.execute("SELECT rule, since_ms FROM alarm_state")}

    def forget_alarms(self, rules: Iterable[str]) -> None:
        """Drop the stored state of rules (no longer configured)."""
        with self._lock, self._tx():
            self._db.executemany("DELETE FROM alarm_state WHERE rule = ?", [(r,) for r in rules])

    def _put(
        self,
        kind: Kind,
        counter: str,
        template: bytes,
        readings: int,
        alarm_state: tuple[str, bool, int] | None = None,
    ) -> int:
        with self._lock:
            seq = self._meta[counter] + 1
            payload = template % seq
            try:
                with self._tx():
                    if kind == "data":
                        self._make_room(len(payload))
                    if alarm_state is not None:
                        rule, active, since_ms = alarm_state
                        if active:
                            self._db.execute(
                                "INSERT OR REPLACE INTO alarm_state VALUES (?, ?)", (rule, since_ms)
                            )
                        else:
                            self._db.execute("DELETE FROM alarm_state WHERE rule = ?", (rule,))
                    self._db.execute(
                        "INSERT INTO outbox (kind, seq, readings, payload) VALUES (?, ?, ?, ?)",
                        (_KIND_CODE[kind], seq, readings, payload),
                    )
                    self._db.execute("UPDATE meta SET value = ? WHERE key = ?", (seq, counter))
            except sqlite3.Error as exc:
                self._reload_meta()
                raise OutboxError(f"outbox {self.path}: cannot store {kind} seq {seq}: {exc}") from exc
            self._meta[counter] = seq
            self._count += 1
            self._bytes += len(payload)
            return seq

    def _make_room(self, size: int) -> None:
        """Delete the oldest data frames until ``size`` more bytes fit; caller holds the lock and a tx."""
        excess = self._bytes + size - self.max_bytes
        if excess <= 0:
            return
        freed = frames = readings = 0
        rows = self._db.execute("SELECT id, readings, length(payload) FROM outbox WHERE kind = 1 ORDER BY id")
        doomed = []
        for row_id, row_readings, row_bytes in rows:
            if freed >= excess:
                break
            doomed.append((row_id,))
            freed += row_bytes
            frames += 1
            readings += row_readings
        self._db.executemany("DELETE FROM outbox WHERE id = ?", doomed)
        self._bump("frames_dropped", frames)
        self._bump("readings_dropped", readings)
        self._count -= frames
        self._bytes -= freed

    # -- read and settle ------------------------------------------------------------------------

    def read(self, after_id: int, kind: Kind, limit: int, upto_id: int | None = None) -> list[OutboxRecord]:
        """Up to ``limit`` records of ``kind`` with ``after_id < id [<= upto_id]``, oldest first."""
        sql = "SELECT id, seq, readings, payload FROM outbox WHERE kind = ? AND id > ?"
        args: tuple[int, ...] = (_KIND_CODE[kind], after_id)
        if upto_id is not None:
            sql += " AND id <= ?"
            args += (upto_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        return [OutboxRecord(int(i), kind, int(s), int(n), bytes(p)) for i, s, n, p in rows]

    def last_id(self) -> int:
        """The newest record's id (0 when empty)."""
        with self._lock:
            return int(self._db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0])

    def settle(self, acked: Iterable[int], rejected: Iterable[int]) -> None:
        """Delete acknowledged records, and rejected ones (counted): one transaction for all."""
        acked, rejected = list(acked), list(rejected)
        ids = [(i,) for i in acked + rejected]
        if not ids:
            return
        with self._lock:
            try:
                with self._tx():
                    freed = self._db.execute(
                        f"SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox "
                        f"WHERE id IN ({','.join('?' * len(ids))})",
                        [i for (i,) in ids],
                    ).fetchone()
                    self._db.executemany("DELETE FROM outbox WHERE id = ?", ids)
                    self._bump("frames_rejected", len(rejected))
            except sqlite3.Error as exc:
                self._reload_meta()
                raise OutboxError(f"outbox {self.path}: cannot settle {len(ids)} records: {exc}") from exc
            self._count -= int(freed[0])
            self._bytes -= int(freed[1])

    # -- accounting -----------------------------------------------------------------------------

    def depth(self) -> tuple[int, int]:
        """``(records, payload bytes)`` waiting, both kinds."""
        with self._lock:
            return self._count, self._bytes

    @property
    def last_seq(self) -> int:
        """The last frame seq handed out (persisted)."""
        return self._meta["last_seq"]

    def counters(self) -> dict[str, int]:
        """Depth and the persisted drop counters, for the status message and metrics."""
        with self._lock:
            return {
                "outbox_records": self._count,
                "outbox_bytes": self._bytes,
                "outbox_frames_dropped": self._meta["frames_dropped"],
                "outbox_readings_dropped": self._meta["readings_dropped"],
                "outbox_frames_rejected": self._meta["frames_rejected"],
            }

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals ------------------------------------------------------------------------------

    def _bump(self, key: str, by: int) -> None:
        if by:
            self._meta[key] += by
            self._db.execute("UPDATE meta SET value = ? WHERE key = ?", (self._meta[key], key))

    def _reload_meta(self) -> None:
        self._meta = {k: int(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
