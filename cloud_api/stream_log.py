"""The numbered log of alert state changes behind the live stream.

Every state change the store applies to an alert's *current* row (from the
consumer or from an operator, see :meth:`cloud_api.sql_store.SqlAlertStore.apply`
and ``record_change``) is also appended here, in the same transaction, with a
rising ``seq``. ``seq`` is the stream's sequence number: a client that saw
``seq = 41`` and reconnects with ``?since=41`` is sent rows 42, 43, ... from
this table, then live events. Redeliveries and stale events (older than the
alert's current state) change no current row and are not appended, so the
stream shows each alert's changes once, in the order they were applied.

Ordering: in one process, writes are serialised by the database's write lock;
on PostgreSQL several processes may write, so :func:`record` takes a
transaction-scoped advisory lock first, which makes ``seq`` order equal commit
order (a reader never sees 43 before 42 commits). A transaction that may
append takes that lock with :func:`lock` *before* it writes any row of its
own: taken only at the first append, after the alert rows it upserted, it
deadlocks with another process's transaction that holds it and waits for one
of those rows (``tests/test_stream_log_pg.py`` runs both cases).

Rows older than the retention (7 days by default) are pruned by the hub; a
client away longer is told to reload (``reset``).

    >>> from cloud_api.db import Database
    >>> db = Database("sqlite:///:memory:")
    >>> db.open()
    >>> e = AlertEvent("a1", "open", "anomaly", "r", "warning", "north", "gw", "d", "p", 1, 1,
    ...                1.0, 0.9, 0.0, 0.5, "p high")
    >>> with db.write() as conn:
    ...     record(conn, e, now_ms=5)
    >>> head(db), [(x.seq, x.event.id) for x in read_since(db, 0, None, 10)]
    (1, [(1, 'a1')])
    >>> read_since(db, 0, frozenset({"south"}), 10)
    []
    >>> db.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, delete, func, select, text

from cloud_api.db import Database, stream_events
from parkwatch.wire.alerts import AlertEvent

__all__ = ["StreamEntry", "lock", "record", "read_since", "head", "prune", "RETENTION_MS"]

#: How long the stream remembers changes for reconnecting clients.
RETENTION_MS: Final = 7 * 86_400_000
#: Arbitrary key of the PostgreSQL advisory lock that orders appends across processes.
_PG_LOCK_KEY: Final = 0x70775F73
#: Key in ``Connection.info`` of the transaction that holds the lock.
_HOLDER: Final = "parkwatch.stream_log.lock"


@dataclass(frozen=True, slots=True)
class StreamEntry:
    seq: int
    event: AlertEvent


def lock(conn: Connection) -> None:
    """Hold the append lock until the caller's transaction ends (PostgreSQL; SQLite's write
    transactions are serial already). Taking it again in the same transaction costs nothing:
    the connection remembers the transaction that holds it, so a batch's appends do not each
    pay a round trip to the server."""
    if conn.dialect.name != "postgresql":
        return
    transaction = conn.get_transaction()
    if transaction is not None and conn.info.get(_HOLDER) is transaction:
        return
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    conn.info[_HOLDER] = transaction


#: Bound per call: ``.values()`` per event costs more than the insert.
_APPEND: Final = stream_events.insert()


def record(conn: Connection, event: AlertEvent, now_ms: int) -> None:
    """Append ``event`` in the caller's write transaction (taking :func:`lock` if it has not)."""
    lock(conn)
    entry = {"at_ms": now_ms, "alert_id": event.id, "site": event.site, "payload": event.encode().decode()}
    conn.execute(_APPEND, entry)


def read_since(db: Database, seq: int, sites: frozenset[str] | None, limit: int) -> list[StreamEntry]:
    """Entries after ``seq`` (oldest first, at most ``limit``), only ``sites`` unless ``None``."""
    stmt = select(stream_events.c.seq, stream_events.c.payload).where(stream_events.c.seq > seq)
    if sites is not None:
        if not sites:
            return []
        stmt = stmt.where(stream_events.c.site.in_(sorted(sites)))
    with db.read() as conn:
        rows = conn.execute(stmt.order_by(stream_events.c.seq).limit(limit)).all()
    return [StreamEntry(int(r.seq), AlertEvent.decode(r.payload.encode())) for r in rows]


def head(db: Database) -> int:
    """The newest ``seq`` (0 when empty)."""
    with db.read() as conn:
        return int(conn.execute(select(func.coalesce(func.max(stream_events.c.seq), 0))).scalar() or 0)


def oldest(db: Database) -> int:
    """The oldest ``seq`` still kept (0 when empty)."""
    with db.read() as conn:
        return int(conn.execute(select(func.coalesce(func.min(stream_events.c.seq), 0))).scalar() or 0)


def prune(db: Database, before_ms: int) -> None:
    """Forget entries appended before ``before_ms``."""
    with db.write() as conn:
        conn.execute(delete(stream_events).where(stream_events.c.at_ms < before_ms))
