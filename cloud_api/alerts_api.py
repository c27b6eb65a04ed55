"""``/api/v1/alerts``: list alerts with filters and cursor pagination, get one with its history.

Every role may read; an inspector sees only the assigned sites (another site's
alert is a 404, as if it did not exist). Alerts on sensitive points are masked
for roles without clearance; a cleared caller's read of them is audited.
The store's calls block, so they run in worker threads: the detail handler is
a plain function (FastAPI runs it in its thread pool); the list, called far
more often, sends its store work to the short reads' threads
(:func:`~cloud_api.dependencies.run_read`) in one hop and serialises the page
on the event loop straight from the store's events (:func:`alert_page_json`:
pydantic's encoder, no model built and validated per alert; the documented
schema is still :class:`~cloud_api.schemas.AlertList`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response
from pydantic import TypeAdapter

from cloud_api.accounts import Principal
from cloud_api.dependencies import CurrentPrincipal, Services, get_services, now_ms, run_read
from cloud_api.masking import is_sensitive, mask_event, mask_history, must_mask
from cloud_api.paging import Cursor, Limit, decode_key_cursor, encode_key_cursor, invalid
from cloud_api.problems import problem_responses
from cloud_api.schemas import Alert, AlertActionItem, AlertHistoryItem, AlertList, AlertWorkflowDetail
from cloud_api.store import AlertQuery, AlertWithHistory
from parkwatch.wire.alerts import AlertEvent, AlertState, Severity
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["router", "alert_detail", "visible_alert", "alert_page_json"]

#: Largest integer the stores accept (signed 64-bit).
_MAX_MS: Final = 2**63 - 1

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=problem_responses(401, 422, 429, 503))

#: What a listed alert shows of its event: exactly the fields of the :class:`Alert` schema.
_ALERT_FIELDS: Final = frozenset(Alert.model_fields)
_EVENT_FIELDS: Final = frozenset(f.name for f in fields(AlertEvent))
if not _ALERT_FIELDS <= _EVENT_FIELDS:
    raise TypeError(f"Alert fields that AlertEvent lacks: {sorted(_ALERT_FIELDS - _EVENT_FIELDS)}")
_EVENTS_JSON: Final = TypeAdapter(list[AlertEvent])
_ONLY_ALERT_FIELDS: Final = {"__all__": set(_ALERT_FIELDS)}


def alert_page_json(items: Sequence[AlertEvent], next_cursor: str | None, total: int) -> bytes:
    """The body of a list page, as a validated :class:`AlertList` would be serialised.

    Encoded by pydantic straight from the events (only :class:`Alert`'s fields): building and
    validating a model per alert cost as much as the page's database reads.

    >>> e = AlertEvent("a1", "open", "anomaly", "r", "warning", "north", "gw-01", "gas-01", "ch4",
    ...                1000, 1000, 87.1, 0.99, 10.0, 15.0, "ch4 high")
    >>> body = alert_page_json([e], "MTAwMDphMQ", 7)
    >>> page = AlertList.model_validate_json(body)
    >>> page.items[0] == Alert.model_validate(e), page.next_cursor, page.total
    (True, 'MTAwMDphMQ', 7)
    >>> json.loads(alert_page_json([], None, 0))
    {'items': [], 'next_cursor': None, 'total': 0}
    """
    return b"".join(
        (
            b'{"items":',
            _EVENTS_JSON.dump_json(list(items), include=_ONLY_ALERT_FIELDS),
            b',"next_cursor":',
            json.dumps(next_cursor).encode(),
            b',"total":',
            str(int(total)).encode(),
            b"}",
        )
    )


@router.get(
    "/alerts",
    response_model=AlertList,
    summary="List alerts",
    description=(
        "Alerts matching every given filter, newest `started_ms` first (ties by id). "
        "`total` counts all matches; follow `next_cursor` for the next page."
    ),
)
async def list_alerts(
    services: Annotated[Services, Depends(get_services)],
    principal: CurrentPrincipal,
    site: Annotated[str | None, Query(pattern=ID_PATTERN.pattern, description="Site id.")] = None,
    device: Annotated[str | None, Query(pattern=ID_PATTERN.pattern, description="Device id.")] = None,
    group: Annotated[
        str | None, Query(min_length=1, max_length=128, description="Members of this flood incident.")
    ] = None,
    state: Annotated[list[AlertState] | None, Query(description="Repeat for any of several states.")] = None,
    severity: Annotated[
        list[Severity] | None, Query(description="Repeat for any of several severities.")
    ] = None,
    since_ms: Annotated[
        int | None, Query(ge=0, le=_MAX_MS, description="Started at or after (epoch ms).")
    ] = None,
    until_ms: Annotated[int | None, Query(ge=0, le=_MAX_MS, description="Started before (epoch ms).")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise invalid("until_ms", "must not be before since_ms", until_ms)
    query = AlertQuery(
        site=site,
        sites=tuple(sorted(principal.sites)) if principal.sites is not None else None,
        device=device,
        group=group,
        states=tuple(state or ()),
        severities=tuple(severity or ()),
        since_ms=since_ms,
        until_ms=until_ms,
        limit=limit,
        after=decode_key_cursor(cursor),
    )
    items, next_cursor, total = await run_read(services, _alert_page, services, principal, query)
    return Response(alert_page_json(items, next_cursor, total), media_type="application/json")


def _alert_page(
    services: Services, principal: Principal, query: AlertQuery
) -> tuple[list[AlertEvent], str | None, int]:
    """The page as ``principal`` may see it (masked, or audited when sensitive), its next cursor
    and total; blocks."""
    page = services.store.query(query)
    items = []
    sensitive_read = []
    for event in page.items:
        if is_sensitive(services.registry, event):
            if must_mask(principal, True):
                event = mask_event(event)
            else:
                sensitive_read.append(event.id)
        items.append(event)
    if sensitive_read:
        _audit_sensitive(services, principal, "alerts", {"alert_ids": sensitive_read})
    return items, encode_key_cursor(page.next_after) if page.next_after else None, page.total


def _audit_sensitive(
    services: Services, principal: Principal, target: str, detail: dict[str, object]
) -> None:
    services.audit.record(now_ms(), principal.name, principal.role, "sensitive.read", target, detail)


def visible_alert(services: Services, principal: Principal, alert_id: str) -> AlertWithHistory:
    """The alert if it exists and the caller may see its site; 404 otherwise (same answer for both,
    so an inspector cannot probe other sites' alert ids)."""
    found = services.store.get(alert_id)
    if found is None or not principal.may_see(found.alert.site):
        raise HTTPException(status_code=404, detail=f"no alert with id {alert_id!r}")
    return found


def alert_detail(services: Services, principal: Principal, found: AlertWithHistory) -> AlertWorkflowDetail:
    """The detail body as ``principal`` may see it (masked, or audited when sensitive)."""
    alert, history = found.alert, found.history
    sensitive = is_sensitive(services.registry, alert)
    masked = must_mask(principal, sensitive)
    if masked:
        alert, history = mask_event(alert), [mask_history(h) for h in history]
    elif sensitive:
        _audit_sensitive(services, principal, f"alert:{alert.id}", {"site": alert.site, "point": alert.point})
    return AlertWorkflowDetail(
        **Alert.model_validate(alert).model_dump(),
        history=[AlertHistoryItem.model_validate(h) for h in history],
        classification=services.registry.classify(alert.site, alert.gateway, alert.device, alert.point),
        masked=masked,
        assignee=found.assignee,
        shelved_until_ms=found.shelved_until_ms,
        actions=[AlertActionItem.model_validate(a) for a in found.actions],
    )


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertWorkflowDetail,
    summary="Get one alert with its state history and operator actions",
    responses=problem_responses(404),
)
def get_alert(
    services: Annotated[Services, Depends(get_services)],
    principal: CurrentPrincipal,
    alert_id: Annotated[str, Path(min_length=1, max_length=128, description="The alert id.")],
) -> AlertWorkflowDetail:
    return alert_detail(services, principal, visible_alert(services, principal, alert_id))
