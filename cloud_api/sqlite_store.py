"""The SQLite alert store, on the standard library's ``sqlite3``.

One file in WAL mode: a writer connection used by the consumer and a reader
connection used by requests, so a listing never waits for a batch being
applied (``:memory:`` databases use one connection for both). Each connection
has its own lock, which is what makes the store safe to call from threads;
:meth:`SqliteAlertStore.close` takes both, so it waits for calls in flight.

The SQL is kept to what PostgreSQL accepts too (``ON CONFLICT ... DO UPDATE
... WHERE``, row-value comparisons), so a PostgreSQL backend can share it with
a different driver and placeholder style.

Example (``:memory:``; a real deployment uses a file)::

    >>> from dataclasses import replace
    >>> from parkwatch.wire.alerts import AlertEvent
    >>> store = SqliteAlertStore(":memory:")
    >>> store.open()
    >>> opened = AlertEvent("a1", "open", "anomaly", "r", "warning", "north", "gw-01", "gas-01",
    ...                     "ch4", 1000, 1000, 87.1, 0.99, 10.0, 15.0, "ch4 high")
    >>> resolved = replace(opened, state="resolved", updated_ms=2000)
    >>> store.apply([opened, resolved, opened], {("alerts", 0): 3})
    ApplyResult(recorded=2, duplicates=1, stale=0)
    >>> found = store.get("a1")
    >>> found.alert.state, [h.state for h in found.history]
    ('resolved', ['open', 'resolved'])
    >>> store.positions("alerts")
    {0: 3}
    >>> store.close()
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any, Final, Literal

from cloud_api.store import (
    AlertHistoryEntry,
    AlertPage,
    AlertQuery,
    AlertWithHistory,
    ApplyResult,
    PartitionKey,
    StoreError,
)
from parkwatch.wire.alerts import AlertEvent

__all__ = ["SqliteAlertStore"]

SCHEMA_VERSION: Final = 1

_ALERT_COLUMNS: Final = tuple(f.name for f in fields(AlertEvent))
_HISTORY_COLUMNS: Final = ("state", "severity", "updated_ms", "value", "score", "message")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS alerts (
    id            TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    kind          TEXT NOT NULL,
    rule          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    site          TEXT NOT NULL,
    gateway       TEXT NOT NULL,
    device        TEXT NOT NULL,
    point         TEXT NOT NULL,
    started_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    value         REAL,
    score         REAL,
    expected_low  REAL,
    expected_high REAL,
    message       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_start ON alerts (started_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_by_site ON alerts (site, started_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_by_device ON alerts (device, started_ms DESC, id DESC);

-- Every distinct state change; (alert_id, updated_ms, state) identifies one,
-- so a redelivered event is recognised and ignored.
CREATE TABLE IF NOT EXISTS alert_history (
    alert_id   TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    state      TEXT NOT NULL,
    severity   TEXT NOT NULL,
    value      REAL,
    score      REAL,
    message    TEXT NOT NULL,
    PRIMARY KEY (alert_id, updated_ms, state)
);

-- Next offset to read per Kafka partition, written with the events it covers.
CREATE TABLE IF NOT EXISTS consumer_positions (
    topic       TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""

_INSERT_HISTORY: Final = (
    "INSERT INTO alert_history (alert_id, state, severity, updated_ms, value, score, message) "
    "VALUES (:id, :state, :severity, :updated_ms, :value, :score, :message) ON CONFLICT DO NOTHING"
)
# Newest updated_ms wins; on a tie the row already stored stays (first seen wins).
_UPSERT_ALERT: Final = (
    f"INSERT INTO alerts ({', '.join(_ALERT_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _ALERT_COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ALERT_COLUMNS if c != "id")
    + " WHERE excluded.updated_ms > alerts.updated_ms"
)
_UPSERT_POSITION: Final = (
    "INSERT INTO consumer_positions (topic, partition, next_offset) VALUES (?, ?, ?) "
    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset "
    "WHERE excluded.next_offset > consumer_positions.next_offset"
)


class SqliteAlertStore:
    """:class:`cloud_api.store.AlertStore` on one SQLite file (or ``":memory:"``)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        # Reentrant, so close() can hold both even when they are one (":memory:").
        self._write_lock = threading.RLock()
        self._read_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"SqliteAlertStore({str(self.path)!r})"

    # -- lifecycle ---------------------------------------------------------------

    def open(self) -> None:
        in_memory = self.path == ":memory:"
        if self._writer is not None:
            raise StoreError(f"alert store {str(self.path)!r} is already open")
        try:
            if not in_memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._writer.execute("PRAGMA journal_mode=WAL")
            self._migrate(self._writer)
            if in_memory:
                # One connection for both roles, so one lock too.
                self._reader, self._read_lock = self._writer, self._write_lock
            else:
                self._reader = self._connect()
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(f"cannot open alert store {str(self.path)!r}: {exc}") from exc

    def close(self) -> None:
        # Taking both locks waits for calls in flight: closing a connection that
        # another thread is using crashes the interpreter, not just the call.
        with self._write_lock, self._read_lock:
            for conn in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
                conn.close()
            self._reader = self._writer = None

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN ... COMMIT) below.
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"alert store {str(self.path)!r} has schema version {version}, "
                f"newer than this API's {SCHEMA_VERSION}"
            )
        if version < SCHEMA_VERSION:
            conn.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")

    @contextmanager
    def _transaction(self, role: Literal["read", "write"]) -> Iterator[sqlite3.Connection]:
        lock = self._read_lock if role == "read" else self._write_lock
        with lock:
            conn = self._reader if role == "read" else self._writer
            if conn is None:
                raise StoreError(f"alert store {str(self.path)!r} is not open")
            try:
                conn.execute("BEGIN")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"alert store {str(self.path)!r}: {exc}") from exc

    # -- writes ------------------------------------------------------------------

    def apply(self, events: Sequence[AlertEvent], positions: Mapping[PartitionKey, int]) -> ApplyResult:
        result = ApplyResult()
        with self._transaction("write") as conn:
            for event in events:
                row = dict(zip(_ALERT_COLUMNS, astuple(event), strict=True))
                if conn.execute(_INSERT_HISTORY, row).rowcount == 0:
                    result.duplicates += 1
                    continue
                result.recorded += 1
                if conn.execute(_UPSERT_ALERT, row).rowcount == 0:
                    result.stale += 1
            conn.executemany(_UPSERT_POSITION, [(t, p, o) for (t, p), o in positions.items()])
        return result

    # -- reads -------------------------------------------------------------------

    def positions(self, topic: str) -> dict[int, int]:
        with self._transaction("read") as conn:
            rows = conn.execute(
                "SELECT partition, next_offset FROM consumer_positions WHERE topic = ?", (topic,)
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def query(self, query: AlertQuery) -> AlertPage:
        where, params = _where(query)
        page_where, page_params = list(where), list(params)
        if query.after is not None:
            page_where.append("(started_ms, id) < (?, ?)")
            page_params.extend(query.after)
        sql = (
            f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alerts{_sql_where(page_where)} "
            "ORDER BY started_ms DESC, id DESC LIMIT ?"
        )
        with self._transaction("read") as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM alerts{_sql_where(where)}", params).fetchone()[0]
            rows = conn.execute(sql, [*page_params, query.limit + 1]).fetchall()
        items = [AlertEvent(*row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        next_after = (items[-1].started_ms, items[-1].id) if more and items else None
        return AlertPage(items=items, total=int(total), next_after=next_after)

    def get(self, alert_id: str) -> AlertWithHistory | None:
        with self._transaction("read") as conn:
            row = conn.execute(
                f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alerts WHERE id = ?", (alert_id,)
            ).fetchone()
            if row is None:
                return None
            history = conn.execute(
                f"SELECT {', '.join(_HISTORY_COLUMNS)} FROM alert_history WHERE alert_id = ? "
                "ORDER BY updated_ms, state",
                (alert_id,),
            ).fetchall()
        return AlertWithHistory(AlertEvent(*row), [AlertHistoryEntry(*h) for h in history])


def _where(query: AlertQuery) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("site", query.site), ("device", query.device)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    for column, values in (("state", query.states), ("severity", query.severities)):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    if query.since_ms is not None:
        clauses.append("started_ms >= ?")
        params.append(query.since_ms)
    if query.until_ms is not None:
        clauses.append("started_ms < ?")
        params.append(query.until_ms)
    return clauses, params


def _sql_where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""
