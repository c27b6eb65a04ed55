"""Maintenance windows: a scope (site, or a gateway, device or point in it) and a time range.

While a window covers a point, alerts raised for it are stored ``suppressed``
(see :meth:`cloud_api.sql_store.SqlAlertStore.apply`); creating a window also
suppresses the scope's active alerts (done by the route, which publishes each
change).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select

from cloud_api.db import Database, alerts, maintenance_windows
from cloud_api.sql_store import window_matches_clause
from parkwatch.wire.alerts import AlertEvent

__all__ = ["WindowRow", "MaintenanceStore"]


@dataclass(frozen=True, slots=True)
class WindowRow:
    id: int
    site: str
    gateway: str | None
    device: str | None
    point: str | None
    from_ms: int
    until_ms: int
    reason: str
    created_by: str
    created_ms: int


_COLUMNS = [maintenance_windows.c[f] for f in WindowRow.__dataclass_fields__]


class MaintenanceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, fields: dict[str, Any]) -> WindowRow:
        with self.db.write() as conn:
            new_id = conn.execute(insert(maintenance_windows).values(**fields)).inserted_primary_key
            assert new_id is not None
            row = conn.execute(select(*_COLUMNS).where(maintenance_windows.c.id == new_id[0])).one()
        return WindowRow(*row)

    def delete(self, window_id: int) -> WindowRow | None:
        with self.db.write() as conn:
            row = conn.execute(select(*_COLUMNS).where(maintenance_windows.c.id == window_id)).first()
            if row is not None:
                conn.execute(delete(maintenance_windows).where(maintenance_windows.c.id == window_id))
        return WindowRow(*row) if row is not None else None

    def get(self, window_id: int) -> WindowRow | None:
        with self.db.read() as conn:
            row = conn.execute(select(*_COLUMNS).where(maintenance_windows.c.id == window_id)).first()
        return WindowRow(*row) if row is not None else None

    def query(
        self, sites: frozenset[str] | None, site: str | None, limit: int, before_id: int | None
    ) -> tuple[list[WindowRow], int, int | None]:
        """Newest first: ``(rows, total, id to pass as before_id for the next page or None)``."""
        c = maintenance_windows.c
        where: list[Any] = []
        if sites is not None:
            where.append(c.site.in_(sorted(sites)) if sites else False)
        if site is not None:
            where.append(c.site == site)
        page = [*where, c.id < before_id] if before_id is not None else where
        with self.db.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(maintenance_windows).where(and_(True, *where))
            ).scalar()
            rows = conn.execute(
                select(*_COLUMNS).where(and_(True, *page)).order_by(c.id.desc()).limit(limit + 1)
            ).all()
        items = [WindowRow(*r) for r in rows[:limit]]
        return items, int(total or 0), items[-1].id if len(rows) > limit and items else None

    def active_alerts_in(self, window: WindowRow, limit: int = 1000) -> list[AlertEvent]:
        """Open or acknowledged alerts in the window's scope that started before it ends."""
        from dataclasses import fields

        columns = [alerts.c[f.name] for f in fields(AlertEvent)]
        with self.db.read() as conn:
            rows = conn.execute(
                select(*columns)
                .where(
                    window_matches_clause(window.site, window.gateway, window.device, window.point),
                    alerts.c.state.in_(("open", "acknowledged")),
                    alerts.c.started_ms < window.until_ms,
                )
                .limit(limit)
            ).all()
        return [AlertEvent(*r) for r in rows]
