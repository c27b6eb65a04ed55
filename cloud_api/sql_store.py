"""The alert store on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Events from the ``alerts`` topic and the API's own changes go through the same
:meth:`SqlAlertStore.apply`: a change the API makes is published to Kafka *and*
applied here, and when the consumer reads it back it is a duplicate of a
history row and changes nothing.

An ``open`` event for a point inside an active maintenance window is stored
as ``suppressed`` (ISA-18.2 "suppressed by design"); the history keeps it
under the state it was stored as, so a redelivery is still recognised. An
``open`` event carrying an escalation (``escalation > 0``) or a flood group
for an alert an operator has acknowledged or shelved keeps that state (with
the event's other fields): the stream processor's alert manager escalates
alerts nobody acknowledged and groups floods by re-publishing members, and
an acknowledgement that crossed such an update on the way wins.

Example (``:memory:``; a real deployment uses a file or PostgreSQL)::

    >>> from dataclasses import replace
    >>> from cloud_api.db import Database
    >>> store = SqlAlertStore(Database("sqlite:///:memory:"))
    >>> store.open()
    >>> opened = AlertEvent("a1", "open", "anomaly", "r", "warning", "north", "gw-01", "gas-01",
    ...                     "ch4", 1000, 1000, 87.1, 0.99, 10.0, 15.0, "ch4 high")
    >>> resolved = replace(opened, state="resolved", updated_ms=2000)
    >>> store.apply([opened, resolved, opened], {("alerts", 0): 3})
    ApplyResult(recorded=2, duplicates=1, stale=0, suppressed=[])
    >>> found = store.get("a1")
    >>> found.alert.state, [h.state for h in found.history]
    ('resolved', ['open', 'resolved'])
    >>> store.positions("alerts")
    {0: 3}
    >>> store.close()
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any, Final

from sqlalchemy import Connection, and_, func, select, tuple_

from cloud_api import stream_log
from cloud_api.db import (
    Database,
    alert_actions,
    alert_history,
    alert_workflow,
    alerts,
    consumer_positions,
    insert_for,
    maintenance_windows,
)
from cloud_api.store import (
    AlertAction,
    AlertHistoryEntry,
    AlertPage,
    AlertQuery,
    AlertWithHistory,
    ApplyResult,
    PartitionKey,
)
from parkwatch.wire.alerts import AlertEvent, AlertState

__all__ = ["SqlAlertStore", "window_matches_clause"]

_ALERT_COLUMNS: Final = tuple(f.name for f in fields(AlertEvent))
_HISTORY_COLUMNS: Final = ("state", "severity", "updated_ms", "value", "score", "message")

#: States an escalation leaves as they are (see the module docstring).
_OPERATOR_STATES: Final[frozenset[str]] = frozenset({"acknowledged", "shelved"})


@functools.cache
def _apply_statements(dialect: str) -> tuple[Any, Any]:
    """The history insert and the alert upsert of applying one event, built once per dialect
    and bound per event: building them with ``.values()`` per event cost more than running
    them (510 events/s on SQLite)."""
    history = (
        insert_for(dialect, alert_history).on_conflict_do_nothing()
        # RETURNING, not rowcount: psycopg reports -1 for these statements.
        .returning(alert_history.c.alert_id)
    )
    upsert = insert_for(dialect, alerts)
    # Newest updated_ms wins; on a tie the row already stored stays (first seen wins).
    upsert = upsert.on_conflict_do_update(
        index_elements=["id"],
        set_={c: upsert.excluded[c] for c in _ALERT_COLUMNS if c != "id"},
        where=upsert.excluded.updated_ms > alerts.c.updated_ms,
    ).returning(alerts.c.id)
    return history, upsert


class SqlAlertStore:
    """:class:`cloud_api.store.AlertStore` on a :class:`~cloud_api.db.Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        #: Called (from the writing thread) after a transaction that may have appended to the
        #: stream log commits; the live stream's hub registers here. Must not block.
        self.listeners: list[Callable[[], None]] = []

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    def __repr__(self) -> str:
        return f"SqlAlertStore({self.db!r})"

    def open(self) -> None:
        self.db.open()

    def close(self) -> None:
        self.db.close()

    # -- writes ------------------------------------------------------------------

    def apply(self, events: Sequence[AlertEvent], positions: Mapping[PartitionKey, int]) -> ApplyResult:
        result = ApplyResult()
        with self.db.write() as conn:
            # Before any row is locked: see stream_log (the stream's order across processes).
            stream_log.lock(conn)
            windows = _active_windows(conn, events)
            for event in events:
                if event.state == "open" and _in_window(event, windows):
                    event = replace(event, state="suppressed")
                    recorded = result.recorded
                    self._apply_one(conn, event, result)
                    if result.recorded > recorded:
                        result.suppressed.append(event)
                    continue
                if event.state == "open" and (event.escalation > 0 or event.group is not None):
                    event = replace(event, state=_operator_state(conn, event.id) or "open")
                self._apply_one(conn, event, result)
            for (topic, partition), offset in positions.items():
                stmt = insert_for(conn, consumer_positions).values(
                    topic=topic, partition=partition, next_offset=offset
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=["topic", "partition"],
                    set_={"next_offset": stmt.excluded.next_offset},
                    where=stmt.excluded.next_offset > consumer_positions.c.next_offset,
                )
                conn.execute(stmt)
        if result.recorded:
            self._notify()
        return result

    @staticmethod
    def _apply_one(conn: Connection, event: AlertEvent, result: ApplyResult) -> None:
        history, upsert = _apply_statements(conn.dialect.name)
        row = {c: getattr(event, c) for c in _ALERT_COLUMNS}
        step = {"alert_id": event.id, **{c: row[c] for c in _HISTORY_COLUMNS}}
        if conn.execute(history, step).first() is None:
            result.duplicates += 1
            return
        result.recorded += 1
        if conn.execute(upsert, row).first() is None:
            result.stale += 1
        else:
            stream_log.record(conn, event, time.time_ns() // 1_000_000)

    def record_change(
        self,
        event: AlertEvent | None,
        action: AlertAction,
        alert_id: str,
        *,
        workflow: Mapping[str, Any] | None = None,
    ) -> None:
        """Apply an operator's change: the new event (if the state changed), who did what, and
        the workflow fields it set (``assignee``, ``shelved_until_ms``, ``state_before_shelve``)."""
        with self.db.write() as conn:
            if event is not None:
                stream_log.lock(conn)
                self._apply_one(conn, event, ApplyResult())
            conn.execute(
                alert_actions.insert().values(
                    alert_id=alert_id,
                    at_ms=action.at_ms,
                    actor=action.actor,
                    action=action.action,
                    comment=action.comment,
                    assignee=action.assignee,
                    until_ms=action.until_ms,
                )
            )
            if workflow:
                stmt = insert_for(conn, alert_workflow).values(alert_id=alert_id, **workflow)
                stmt = stmt.on_conflict_do_update(index_elements=["alert_id"], set_=dict(workflow))
                conn.execute(stmt)
        if event is not None:
            self._notify()

    # -- reads -------------------------------------------------------------------

    def positions(self, topic: str) -> dict[int, int]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(consumer_positions.c.partition, consumer_positions.c.next_offset).where(
                    consumer_positions.c.topic == topic
                )
            ).all()
        return {int(p): int(o) for p, o in rows}

    def query(self, query: AlertQuery) -> AlertPage:
        where = _where(query)
        page_where = list(where)
        if query.after is not None:
            page_where.append(tuple_(alerts.c.started_ms, alerts.c.id) < tuple_(*query.after))
        columns = [alerts.c[c] for c in _ALERT_COLUMNS]
        stmt = (
            select(*columns)
            .where(and_(True, *page_where))
            .order_by(alerts.c.started_ms.desc(), alerts.c.id.desc())
            .limit(query.limit + 1)
        )
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(alerts).where(and_(True, *where))).scalar()
            rows = conn.execute(stmt).all()
        items = [AlertEvent(*row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        next_after = (items[-1].started_ms, items[-1].id) if more and items else None
        return AlertPage(items=items, total=int(total or 0), next_after=next_after)

    def get(self, alert_id: str) -> AlertWithHistory | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(*[alerts.c[c] for c in _ALERT_COLUMNS]).where(alerts.c.id == alert_id)
            ).first()
            if row is None:
                return None
            history = conn.execute(
                select(*[alert_history.c[c] for c in _HISTORY_COLUMNS])
                .where(alert_history.c.alert_id == alert_id)
                .order_by(alert_history.c.updated_ms, alert_history.c.state)
            ).all()
            actions = conn.execute(
                select(
                    alert_actions.c.at_ms,
                    alert_actions.c.actor,
                    alert_actions.c.action,
                    alert_actions.c.comment,
                    alert_actions.c.assignee,
                    alert_actions.c.until_ms,
                )
                .where(alert_actions.c.alert_id == alert_id)
                .order_by(alert_actions.c.seq)
            ).all()
            workflow = conn.execute(
                select(alert_workflow.c.assignee, alert_workflow.c.shelved_until_ms).where(
                    alert_workflow.c.alert_id == alert_id
                )
            ).first()
        return AlertWithHistory(
            alert=AlertEvent(*row),
            history=[AlertHistoryEntry(*h) for h in history],
            actions=[AlertAction(*a) for a in actions],
            assignee=workflow.assignee if workflow else None,
            shelved_until_ms=workflow.shelved_until_ms if workflow else None,
        )

    def state_before_shelve(self, alert_id: str) -> str | None:
        with self.db.read() as conn:
            value = conn.execute(
                select(alert_workflow.c.state_before_shelve).where(alert_workflow.c.alert_id == alert_id)
            ).scalar()
        return str(value) if value is not None else None

    def expired_shelves(self, now_ms: int) -> list[str]:
        """Ids of shelved alerts whose shelf time has ended."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(alerts.c.id)
                .join(alert_workflow, alert_workflow.c.alert_id == alerts.c.id)
                .where(alerts.c.state == "shelved", alert_workflow.c.shelved_until_ms <= now_ms)
            ).all()
        return [r.id for r in rows]


def _operator_state(conn: Connection, alert_id: str) -> AlertState | None:
    """The alert's stored state if an operator put it there and an escalation must not undo it."""
    state = conn.execute(select(alerts.c.state).where(alerts.c.id == alert_id)).scalar()
    return state if state in _OPERATOR_STATES else None


def _where(query: AlertQuery) -> list[Any]:
    clauses: list[Any] = []
    if query.site is not None:
        clauses.append(alerts.c.site == query.site)
    if query.sites is not None:
        clauses.append(alerts.c.site.in_(query.sites) if query.sites else False)
    if query.device is not None:
        clauses.append(alerts.c.device == query.device)
    if query.group is not None:
        clauses.append(alerts.c.group == query.group)
    if query.states:
        clauses.append(alerts.c.state.in_(query.states))
    if query.severities:
        clauses.append(alerts.c.severity.in_(query.severities))
    if query.since_ms is not None:
        clauses.append(alerts.c.started_ms >= query.since_ms)
    if query.until_ms is not None:
        clauses.append(alerts.c.started_ms < query.until_ms)
    return clauses


def _active_windows(conn: Connection, events: Sequence[AlertEvent]) -> list[Any]:
    """Maintenance windows of the batch's sites that cover any of its open events."""
    opened = [e for e in events if e.state == "open"]
    if not opened:
        return []
    w = maintenance_windows.c
    return list(
        conn.execute(
            select(w.site, w.gateway, w.device, w.point, w.from_ms, w.until_ms).where(
                w.site.in_({e.site for e in opened}),
                w.from_ms <= max(e.started_ms for e in opened),
                w.until_ms > min(e.started_ms for e in opened),
            )
        ).all()
    )


def _in_window(event: AlertEvent, windows: Sequence[Any]) -> bool:
    return any(
        w.site == event.site
        and w.from_ms <= event.started_ms < w.until_ms
        and all(getattr(w, k) in (None, getattr(event, k)) for k in ("gateway", "device", "point"))
        for w in windows
    )


def window_matches_clause(site: str, gateway: str | None, device: str | None, point: str | None) -> Any:
    """SQL condition: alerts inside a maintenance window's scope."""
    clauses = [alerts.c.site == site]
    for column, value in (("gateway", gateway), ("device", device), ("point", point)):
        if value is not None:
            clauses.append(alerts.c[column] == value)
    return and_(*clauses)
