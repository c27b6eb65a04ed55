"""The audit log: every change and every read of sensitive data, with who and when.

Rows are appended by request handlers (and the admin CLI) and never changed.
``GET /api/v1/audit`` (admins only) lists them newest first, paged by ``seq``.

    >>> from cloud_api.db import Database
    >>> db = Database("sqlite:///:memory:")
    >>> db.open()
    >>> log = AuditLog(db)
    >>> log.record(1000, "ada", "admin", "token.create", "token:abc", {"user": "bob"})
    >>> [(e.actor, e.action, e.detail) for e in log.query(AuditQuery()).items]
    [('ada', 'token.create', {'user': 'bob'})]
    >>> db.close()
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, select

from cloud_api.db import Database, audit_log

__all__ = ["AuditLog", "AuditEntry", "AuditQuery", "AuditPage"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at_ms: int
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int = 100
    #: ``seq`` of the last entry of the previous page.
    before_seq: int | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditEntry]
    total: int
    next_before_seq: int | None


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, at_ms: int, actor: str, role: str, action: str, target: str, detail: Mapping[str, Any]
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                insert(audit_log).values(
                    at_ms=at_ms,
                    actor=actor,
                    role=role,
                    action=action,
                    target=target,
                    detail=json.dumps(dict(detail), sort_keys=True, default=str),
                )
            )

    def query(self, query: AuditQuery) -> AuditPage:
        c = audit_log.c
        where: list[Any] = []
        if query.actor is not None:
            where.append(c.actor == query.actor)
        if query.action is not None:
            where.append(c.action == query.action)
        if query.since_ms is not None:
            where.append(c.at_ms >= query.since_ms)
        if query.until_ms is not None:
            where.append(c.at_ms < query.until_ms)
        page = [*where, c.seq < query.before_seq] if query.before_seq is not None else where
        with self.db.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(audit_log).where(and_(True, *where))
            ).scalar()
            rows = conn.execute(
                select(audit_log).where(and_(True, *page)).order_by(c.seq.desc()).limit(query.limit + 1)
            ).all()
        items = [
            AuditEntry(r.seq, r.at_ms, r.actor, r.role, r.action, r.target, json.loads(r.detail))
            for r in rows[: query.limit]
        ]
        more = len(rows) > query.limit
        return AuditPage(items, int(total or 0), items[-1].seq if more and items else None)
