"""Gateway events in the API's database: what the bridges saw of each gateway's link.

The bridges publish to the Kafka ``gateway-events`` topic (contract:
:mod:`parkwatch.wire.events`): ``gap`` (seqs that never arrived, data lost),
``duplicate``, ``late``, ``seq_reset``, ``offline`` and ``online``.
:class:`GatewayEventStore` is that topic's projection in the ``gateway_events``
table, fed by a :class:`~cloud_api.topic_consumer.TopicConsumer` and read by
``GET /api/v1/gateway-events`` and the wall's data-gap count.

* **One row per event id.** The id is derived from the observation, and a
  bridge re-emits the same id after a restart (two bridges of a share group
  may both emit it). The row keeps the *first* observation: the event with
  the earliest ``ts_ms`` (on a tie, the one stored first). A re-emission
  changes nothing and is counted as a duplicate, so a replayed topic leaves
  the table as it was and a gap is not moved to "just now" by a restart.
* **Positions with the data.** The next offset of each partition is written in
  the same transaction as the batch's events (table ``consumer_positions``,
  shared with the alerts store under another topic name).
* **Retention.** Events are kept :data:`RETENTION_MS` (30 days) by ``ts_ms``:
  :meth:`GatewayEventStore.prune` deletes older ones (the app calls it every
  hour), and events already older than that when they arrive (a replay) are
  not stored (``expired``).
* **Bad records.** :func:`decode_gateway_event` checks more than
  :meth:`GatewayEvent.decode` does (types, ids, ranges a 64-bit column holds),
  so nothing that reaches the database can make a batch fail; everything
  else is a :class:`~parkwatch.errors.FrameError` the consumer counts and skips.

    >>> from dataclasses import replace
    >>> from cloud_api.db import Database
    >>> store = GatewayEventStore(Database("sqlite:///:memory:"))
    >>> store.db.open()
    >>> gap = GatewayEvent.make("gap", "north", "gw-01", 1764189600123, "bridge-1",
    ...                         stream="data", from_seq=101, to_seq=140)
    >>> again = replace(gap, ts_ms=gap.ts_ms + 60_000, bridge="bridge-2")  # re-emitted after a restart
    >>> store.apply([gap, again], {("gateway-events", 0): 2}, now_ms=gap.ts_ms)
    GatewayEventsApplied(recorded=1, duplicates=1, expired=0)
    >>> page = store.query(GatewayEventQuery(kinds=("gap",)))
    >>> page.total, page.items[0].count, page.items[0].bridge, store.positions("gateway-events")
    (1, 40, 'bridge-1', {0: 2})
    >>> store.db.close()
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from typing import Any, Final

from sqlalchemy import Connection, and_, delete, func, select, tuple_

from cloud_api.db import Database, consumer_positions, gateway_events, insert_for
from cloud_api.store import PartitionKey
from parkwatch.errors import FrameError
from parkwatch.wire.events import EventKind, GatewayEvent
from parkwatch.wire.topics import ID_PATTERN

__all__ = [
    "RETENTION_MS",
    "GatewayEventQuery",
    "GatewayEventPage",
    "GatewayEventsApplied",
    "GatewayEventStore",
    "decode_gateway_event",
]

#: How long gateway events are kept (by the bridge's ``ts_ms``).
RETENTION_MS: Final = 30 * 86_400_000
#: Largest integer a BIGINT column holds.
_MAX_INT: Final = 2**63 - 1
_COLUMNS: Final = tuple(f.name for f in fields(GatewayEvent))
_STREAMS: Final = (None, "data", "alarm")
_SEQ_KINDS: Final = frozenset({"gap", "duplicate", "late", "seq_reset"})


def decode_gateway_event(data: bytes | None) -> GatewayEvent:
    """A record's value as a :class:`GatewayEvent` the table can hold; :class:`FrameError` otherwise.

    Reasons as :meth:`GatewayEvent.decode` (``not_json``, ``bad_version``, ``bad_fields``), plus
    ``empty`` (no value) and ``bad_value`` (a field of the wrong type, an id outside the id
    pattern, a number a 64-bit column cannot hold, a seq event without its range).

    >>> decode_gateway_event(b'{"v":1,"id":"x","kind":"online","site":"n","gateway":"g","stream":null,'
    ...     b'"from_seq":null,"to_seq":null,"count":null,"ts_ms":5,"bridge":"b","detail":""}').kind
    'online'
    >>> decode_gateway_event(b'{"v":1,"id":"x","kind":"gap","site":7,"gateway":"g","stream":"data",'
    ...     b'"from_seq":1,"to_seq":2,"count":2,"ts_ms":5,"bridge":"b","detail":""}')
    Traceback (most recent call last):
    ...
    parkwatch.errors.FrameError: bad_value: site must be an id matching ^[A-Za-z0-9_.-]{1,64}$
    """
    if not data:
        raise FrameError("empty", "record has no value")
    try:
        event = GatewayEvent.decode(data)
    except RecursionError as exc:  # JSON nested deeper than the parser goes
        raise FrameError("not_json", "nested too deeply") from exc
    _check(event)
    return event


def _check(e: GatewayEvent) -> None:
    def bad(message: str) -> FrameError:
        return FrameError("bad_value", message)

    if not isinstance(e.id, str) or not 1 <= len(e.id) <= 64:
        raise bad("id must be a string of 1..64 characters")
    for name in ("site", "gateway"):
        value = getattr(e, name)
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            raise bad(f"{name} must be an id matching {ID_PATTERN.pattern}")
    if e.stream not in _STREAMS:
        raise bad(f"stream must be one of {_STREAMS}")
    for name in ("from_seq", "to_seq", "count"):
        # Signed: a seq_reset's count is to_seq - from_seq + 1, negative when the seq went back.
        value = getattr(e, name)
        if value is not None and (type(value) is not int or not -_MAX_INT - 1 <= value <= _MAX_INT):
            raise bad(f"{name} must be null or a 64-bit integer")
    if type(e.ts_ms) is not int or not 0 <= e.ts_ms <= _MAX_INT:
        raise bad("ts_ms must be epoch milliseconds")
    if e.kind in _SEQ_KINDS and (e.stream is None or e.from_seq is None or e.to_seq is None):
        raise bad(f"a {e.kind} event needs stream, from_seq and to_seq")
    if not isinstance(e.bridge, str) or len(e.bridge) > 255:
        raise bad("bridge must be a string of at most 255 characters")
    if not isinstance(e.detail, str):
        raise bad("detail must be a string")


@dataclass(frozen=True, slots=True)
class GatewayEventQuery:
    """Which events to list, newest ``ts_ms`` first (ties by id); every given filter must match."""

    site: str | None = None
    gateway: str | None = None
    kinds: tuple[EventKind, ...] = ()
    #: Observed at or after (epoch ms, inclusive) ...
    since_ms: int | None = None
    #: ... and before (exclusive).
    until_ms: int | None = None
    #: Only these sites (an inspector's); ``None``: every site.
    sites: frozenset[str] | None = None
    limit: int = 100
    #: ``(ts_ms, id)`` of the previous page's last item.
    after: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class GatewayEventPage:
    items: list[GatewayEvent]
    total: int
    #: ``(ts_ms, id)`` to pass as ``after`` for the next page; ``None`` on the last page.
    next_after: tuple[int, str] | None


@dataclass(slots=True)
class GatewayEventsApplied:
    """What one :meth:`GatewayEventStore.apply` did."""

    #: New events stored (or an earlier observation of a stored id).
    recorded: int = 0
    #: Events whose id was stored already with an observation no later: redeliveries, re-emissions.
    duplicates: int = 0
    #: Events older than the retention when they arrived: not stored.
    expired: int = 0


class GatewayEventStore:
    """The ``gateway_events`` table on a :class:`~cloud_api.db.Database` (opened and closed by its
    owner, the alert store); thread-safe, every call one transaction."""

    def __init__(self, db: Database, retention_ms: int = RETENTION_MS) -> None:
        self.db = db
        self.retention_ms = retention_ms

    def __repr__(self) -> str:
        return f"GatewayEventStore({self.db!r})"

    def apply(
        self,
        events: Sequence[GatewayEvent],
        positions: Mapping[PartitionKey, int],
        now_ms: int | None = None,
    ) -> GatewayEventsApplied:
        """Upsert ``events`` (first observation wins) and save ``positions``, in one transaction."""
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        oldest = now_ms - self.retention_ms
        result = GatewayEventsApplied()
        with self.db.write() as conn:
            for event in events:
                if event.ts_ms < oldest:
                    result.expired += 1
                    continue
                row = dict(zip(_COLUMNS, astuple(event), strict=True))
                stmt = insert_for(conn, gateway_events).values(**row)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["id"],
                    set_={c: stmt.excluded[c] for c in _COLUMNS if c != "id"},
                    where=stmt.excluded.ts_ms < gateway_events.c.ts_ms,
                )
                # RETURNING, not rowcount: psycopg reports -1 for these statements.
                if conn.execute(stmt.returning(gateway_events.c.id)).first() is None:
                    result.duplicates += 1
                else:
                    result.recorded += 1
            _save_positions(conn, positions)
        return result

    def positions(self, topic: str) -> dict[int, int]:
        """The next offset to read of each partition of ``topic`` the store has applied."""
        c = consumer_positions.c
        with self.db.read() as conn:
            rows = conn.execute(select(c.partition, c.next_offset).where(c.topic == topic)).all()
        return {int(p): int(o) for p, o in rows}

    def query(self, query: GatewayEventQuery) -> GatewayEventPage:
        where = _where(query)
        page_where = list(where)
        c = gateway_events.c
        if query.after is not None:
            page_where.append(tuple_(c.ts_ms, c.id) < tuple_(*query.after))
        stmt = (
            select(*[c[name] for name in _COLUMNS])
            .where(and_(True, *page_where))
            .order_by(c.ts_ms.desc(), c.id.desc())
            .limit(query.limit + 1)
        )
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(gateway_events).where(and_(True, *where)))
            rows = conn.execute(stmt).all()
            count = int(total.scalar() or 0)
        items = [GatewayEvent(*row) for row in rows[: query.limit]]
        more = len(rows) > query.limit and bool(items)
        return GatewayEventPage(items, count, (items[-1].ts_ms, items[-1].id) if more else None)

    def prune(self, now_ms: int | None = None) -> int:
        """Delete events older than the retention; how many."""
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        with self.db.write() as conn:
            deleted = conn.execute(
                delete(gateway_events)
                .where(gateway_events.c.ts_ms < now_ms - self.retention_ms)
                .returning(gateway_events.c.id)
            ).all()
        return len(deleted)


def _where(query: GatewayEventQuery) -> list[Any]:
    c = gateway_events.c
    clauses: list[Any] = []
    if query.sites is not None:
        clauses.append(c.site.in_(sorted(query.sites)) if query.sites else False)
    if query.site is not None:
        clauses.append(c.site == query.site)
    if query.gateway is not None:
        clauses.append(c.gateway == query.gateway)
    if query.kinds:
        clauses.append(c.kind.in_(sorted(set(query.kinds))))
    if query.since_ms is not None:
        clauses.append(c.ts_ms >= query.since_ms)
    if query.until_ms is not None:
        clauses.append(c.ts_ms < query.until_ms)
    return clauses


def _save_positions(conn: Connection, positions: Mapping[PartitionKey, int]) -> None:
    for (topic, partition), offset in positions.items():
        stmt = insert_for(conn, consumer_positions)
        stmt = stmt.values(topic=topic, partition=partition, next_offset=offset).on_conflict_do_update(
            index_elements=["topic", "partition"],
            set_={"next_offset": stmt.excluded.next_offset},
            where=stmt.excluded.next_offset > consumer_positions.c.next_offset,
        )
        conn.execute(stmt)

