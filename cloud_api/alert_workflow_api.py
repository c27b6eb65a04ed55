"""Operators' alert handling: acknowledge, resolve, shelve, assign, comment.

States follow ISA-18.2 as far as the event contract carries them:
``open`` (active, unacknowledged) → ``acknowledged`` → ``resolved``;
``shelved`` hides an alert until ``until_ms`` (it then returns to the state it
was shelved from, see :func:`unshelve_expired`); ``suppressed`` is set by
maintenance windows. A request for a transition the state does not allow is a
409 problem.

A state change is a new :class:`AlertEvent` with the same id and
``updated_ms = max(now, previous + 1)``: published to Kafka first (so a
change that cannot reach the other consumers is refused with 503 and not
recorded), then applied to the store with who did it, so the answer already
shows it. Assign and comment change no state: they are recorded in the store
only. Every change is also in the audit log.

Acknowledging a flood incident (kind ``flood``) also acknowledges its members
still open: the operator has seen the burst as one, and members left open
would go on escalating. Each member's change is published and recorded like
its own acknowledgement, with the incident named in the comment.

Allowed: admin and commander everywhere, inspectors on their sites (other
sites' alerts are 404 to them); viewers get 403.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from cloud_api.accounts import Principal
from cloud_api.alerts_api import alert_detail, visible_alert
from cloud_api.dependencies import Services, get_services, now_ms, require
from cloud_api.problems import problem_responses
from cloud_api.schemas import AlertWorkflowDetail, AssignBody, CommentBody, RequiredCommentBody, ShelveBody
from cloud_api.store import AlertAction, AlertQuery
from parkwatch.errors import ParkwatchError
from parkwatch.wire.alerts import AlertEvent, AlertState

__all__ = ["router", "change_state", "unshelve_expired", "MAX_SHELVE_MS"]

log = logging.getLogger(__name__)

MAX_SHELVE_MS: Final = 7 * 86_400_000

#: action -> (states it may start from, state it leads to)
_TRANSITIONS: Final[dict[str, tuple[frozenset[str], AlertState]]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged"),
    "resolve": (frozenset({"open", "acknowledged", "shelved", "suppressed"}), "resolved"),
    "shelve": (frozenset({"open", "acknowledged"}), "shelved"),
}

router = APIRouter(
    prefix="/api/v1/alerts",
    tags=["alert handling"],
    responses=problem_responses(401, 403, 404, 409, 413, 422, 429, 503),
)

_Handler = Annotated[Principal, Depends(require("admin", "commander", "inspector"))]
_AlertId = Annotated[str, Path(min_length=1, max_length=128, description="The alert id.")]


async def change_state(
    services: Services,
    current: AlertEvent,
    action: AlertAction,
    new_state: AlertState,
    workflow: dict[str, Any] | None = None,
) -> None:
    """Publish the new state, then record it and the action (see the module docstring)."""
    text = f"{action.action} by {action.actor}" + (f": {action.comment}" if action.comment else "")
    event = replace(
        current, state=new_state, updated_ms=max(action.at_ms, current.updated_ms + 1), message=text[:2000]
    )
    await services.publisher.publish(event)
    await run_in_threadpool(services.store.record_change, event, action, current.id, workflow=workflow)


async def _act(
    services: Services,
    principal: Principal,
    alert_id: str,
    action: str,
    *,
    comment: str | None = None,
    assignee: str | None = None,
    until_ms: int | None = None,
) -> AlertWorkflowDetail:
    found = await run_in_threadpool(visible_alert, services, principal, alert_id)
    current = found.alert
    at_ms = now_ms()
    record = AlertAction(at_ms, principal.name, action, comment, assignee, until_ms)
    members: int | None = None  # of a flood incident, acknowledged with it
    if action in _TRANSITIONS:
        allowed, new_state = _TRANSITIONS[action]
        if current.state not in allowed:
            allowed_text = ", ".join(sorted(allowed))
            raise HTTPException(
                409, f"cannot {action} an alert that is {current.state} (allowed from: {allowed_text})"
            )
        workflow: dict[str, Any] | None = None
        if action == "shelve":
            workflow = {"shelved_until_ms": until_ms, "state_before_shelve": current.state}
        elif current.state == "shelved":
            workflow = {"shelved_until_ms": None, "state_before_shelve": None}
        await change_state(services, current, record, new_state, workflow)
        if action == "acknowledge" and current.kind == "flood":
            members = await _acknowledge_members(services, principal, current, record)
    else:
        workflow = {"assignee": assignee} if action == "assign" else None
        await run_in_threadpool(services.store.record_change, None, record, alert_id, workflow=workflow)
    detail: dict[str, Any] = {
        k: v for k, v in (("comment", comment), ("assignee", assignee), ("until_ms", until_ms)) if v
    }
    if members is not None:
        detail["members"] = members
    await run_in_threadpool(
        services.audit.record,
        at_ms,
        principal.name,
        principal.role,
        f"alert.{action}",
        f"alert:{alert_id}",
        {"site": current.site, **detail},
    )
    found = await run_in_threadpool(visible_alert, services, principal, alert_id)
    return await run_in_threadpool(alert_detail, services, principal, found)


async def _acknowledge_members(
    services: Services, principal: Principal, incident: AlertEvent, action: AlertAction
) -> int:
    """Acknowledge the incident's open members the principal may see; how many."""
    note = f"with flood incident {incident.id}" + (f": {action.comment}" if action.comment else "")
    done = 0
    after: tuple[int, str] | None = None
    while True:
        sites = tuple(sorted(principal.sites)) if principal.sites is not None else None
        query = AlertQuery(group=incident.id, states=("open",), sites=sites, limit=500, after=after)
        page = await run_in_threadpool(services.store.query, query)
        for member in page.items:
            member_action = replace(action, comment=note[:2000])
            await change_state(services, member, member_action, "acknowledged")
            done += 1
        if page.next_after is None:
            return done
        after = page.next_after


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertWorkflowDetail,
    summary="Acknowledge an open alert (a flood incident: with its open members)",
)
async def acknowledge(
    services: Annotated[Services, Depends(get_services)],
    principal: _Handler,
    alert_id: _AlertId,
    body: CommentBody | None = None,
) -> AlertWorkflowDetail:
    return await _act(services, principal, alert_id, "acknowledge", comment=body.comment if body else None)


@router.post("/{alert_id}/resolve", response_model=AlertWorkflowDetail, summary="Resolve an alert")
async def resolve(
    services: Annotated[Services, Depends(get_services)],
    principal: _Handler,
    alert_id: _AlertId,
    body: CommentBody | None = None,
) -> AlertWorkflowDetail:
    return await _act(services, principal, alert_id, "resolve", comment=body.comment if body else None)


@router.post(
    "/{alert_id}/shelve",
    response_model=AlertWorkflowDetail,
    summary="Shelve an alert until a time (≤ 7 days)",
)
async def shelve(
    services: Annotated[Services, Depends(get_services)],
    principal: _Handler,
    alert_id: _AlertId,
    body: ShelveBody,
) -> AlertWorkflowDetail:
    now = now_ms()
    if not now < body.until_ms <= now + MAX_SHELVE_MS:
        error = {
            "type": "value_error",
            "loc": ("body", "until_ms"),
            "input": body.until_ms,
            "msg": "must be in the future and at most 7 days ahead",
        }
        raise RequestValidationError([error])
    return await _act(services, principal, alert_id, "shelve", comment=body.comment, until_ms=body.until_ms)


@router.post("/{alert_id}/assign", response_model=AlertWorkflowDetail, summary="Assign an alert to a user")
async def assign(
    services: Annotated[Services, Depends(get_services)],
    principal: _Handler,
    alert_id: _AlertId,
    body: AssignBody,
) -> AlertWorkflowDetail:
    return await _act(services, principal, alert_id, "assign", comment=body.comment, assignee=body.assignee)


@router.post("/{alert_id}/comment", response_model=AlertWorkflowDetail, summary="Comment on an alert")
async def comment(
    services: Annotated[Services, Depends(get_services)],
    principal: _Handler,
    alert_id: _AlertId,
    body: RequiredCommentBody,
) -> AlertWorkflowDetail:
    return await _act(services, principal, alert_id, "comment", comment=body.comment)


async def unshelve_expired(services: Services, interval_s: float = 5.0) -> None:
    """Background loop: alerts whose shelf time ended return to the state they were shelved from."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            for alert_id in await run_in_threadpool(services.store.expired_shelves, now_ms()):
                found = await run_in_threadpool(services.store.get, alert_id)
                before = await run_in_threadpool(services.store.state_before_shelve, alert_id)
                if found is None or found.alert.state != "shelved":
                    continue
                state: AlertState = "acknowledged" if before == "acknowledged" else "open"
                action = AlertAction(now_ms(), "system", "unshelve")
                workflow = {"shelved_until_ms": None, "state_before_shelve": None}
                await change_state(services, found.alert, action, state, workflow)
        except ParkwatchError as exc:  # store or Kafka down: try again next round
            log.warning("unshelving expired alerts failed (retrying): %s", exc)
