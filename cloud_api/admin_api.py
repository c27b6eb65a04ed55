"""Maintenance windows, the audit log and ``/me``.

* ``/api/v1/maintenance-windows``: every role lists (inspectors: their sites);
  admin and commander create and delete. Creating one suppresses the scope's
  active alerts (published like any other change).
* ``/api/v1/audit``: admins only.
* ``/api/v1/me``: who the token belongs to.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from cloud_api.accounts import Principal
from cloud_api.alert_workflow_api import change_state
from cloud_api.audit import AuditQuery
from cloud_api.dependencies import CurrentPrincipal, Services, get_services, now_ms, require
from cloud_api.maintenance import MaintenanceStore, WindowRow
from cloud_api.paging import Cursor, Limit, decode_int_cursor, encode_int_cursor, invalid
from cloud_api.problems import problem_responses
from cloud_api.schemas import (
    AuditItem,
    AuditList,
    MaintenanceWindow,
    MaintenanceWindowBody,
    MaintenanceWindowList,
    Me,
)
from cloud_api.store import AlertAction
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=problem_responses(401, 422, 429, 503))

_MAX_MS = 2**63 - 1
_Manager = Annotated[Principal, Depends(require("admin", "commander"))]
_Admin = Annotated[Principal, Depends(require("admin"))]
_Services = Annotated[Services, Depends(get_services)]


def _window(row: WindowRow, suppressed: int = 0) -> MaintenanceWindow:
    return MaintenanceWindow(
        **{f: getattr(row, f) for f in WindowRow.__dataclass_fields__}, suppressed=suppressed
    )


@router.get("/me", response_model=Me, tags=["identity"], summary="Who the token belongs to")
def me(principal: CurrentPrincipal) -> Me:
    return Me(
        name=principal.name,
        role=principal.role,
        sites=sorted(principal.sites) if principal.sites is not None else None,
        cleared=principal.cleared,
    )


@router.get(
    "/maintenance-windows",
    response_model=MaintenanceWindowList,
    tags=["maintenance"],
    summary="List maintenance windows, newest first",
)
def list_windows(
    services: _Services,
    principal: CurrentPrincipal,
    site: Annotated[str | None, Query(pattern=ID_PATTERN.pattern)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> MaintenanceWindowList:
    rows, total, next_id = MaintenanceStore(services.store.db).query(
        principal.sites, site, limit, decode_int_cursor(cursor)
    )
    return MaintenanceWindowList(
        items=[_window(r) for r in rows],
        next_cursor=encode_int_cursor(next_id) if next_id is not None else None,
        total=total,
    )


@router.post(
    "/maintenance-windows",
    response_model=MaintenanceWindow,
    status_code=201,
    tags=["maintenance"],
    summary="Create a maintenance window; suppresses the scope's active alerts",
    responses=problem_responses(403, 413),
)
async def create_window(
    services: _Services, principal: _Manager, body: MaintenanceWindowBody
) -> MaintenanceWindow:
    if body.until_ms <= body.from_ms:
        raise invalid("until_ms", "must be after from_ms", body.until_ms, where="body")
    at_ms = now_ms()
    store = MaintenanceStore(services.store.db)
    row = await run_in_threadpool(
        store.create, {**body.model_dump(), "created_by": principal.name, "created_ms": at_ms}
    )
    suppressed = 0
    if row.from_ms <= at_ms < row.until_ms:
        for alert in await run_in_threadpool(store.active_alerts_in, row):
            action = AlertAction(
                at_ms, principal.name, "suppress", f"maintenance window {row.id}: {row.reason}"
            )
            await change_state(services, alert, action, "suppressed")
            suppressed += 1
    await run_in_threadpool(
        services.audit.record,
        at_ms,
        principal.name,
        principal.role,
        "maintenance.create",
        f"maintenance:{row.id}",
        {**body.model_dump(exclude_none=True), "suppressed": suppressed},
    )
    return _window(row, suppressed)


@router.delete(
    "/maintenance-windows/{window_id}",
    status_code=204,
    tags=["maintenance"],
    summary="Delete a maintenance window",
    responses=problem_responses(403, 404),
)
def delete_window(
    services: _Services, principal: _Manager, window_id: Annotated[int, Path(ge=1, le=_MAX_MS)]
) -> Response:
    row = MaintenanceStore(services.store.db).delete(window_id)
    if row is None:
        raise HTTPException(404, f"no maintenance window {window_id}")
    services.audit.record(
        now_ms(),
        principal.name,
        principal.role,
        "maintenance.delete",
        f"maintenance:{window_id}",
        {"site": row.site},
    )
    return Response(status_code=204)


@router.get(
    "/audit",
    response_model=AuditList,
    tags=["audit"],
    summary="The audit log, newest first (admins only)",
    responses=problem_responses(403),
)
def audit(
    services: _Services,
    principal: _Admin,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since_ms: Annotated[int | None, Query(ge=0, le=_MAX_MS)] = None,
    until_ms: Annotated[int | None, Query(ge=0, le=_MAX_MS)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> AuditList:
    page = services.audit.query(
        AuditQuery(actor, action, since_ms, until_ms, limit, decode_int_cursor(cursor))
    )
    return AuditList(
        items=[AuditItem.model_validate(e) for e in page.items],
        next_cursor=encode_int_cursor(page.next_before_seq) if page.next_before_seq is not None else None,
        total=page.total,
    )
