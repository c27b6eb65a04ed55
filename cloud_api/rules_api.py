"""``/api/v1/rules``: monitoring rules without code (create, edit, enable, disable, roll back, delete).

Admins and commanders change rules: the command centre configures what is
monitored, as it does with maintenance windows. Every role reads them;
inspectors see only the rules scoped to their sites or to no site (another
site's rule is 404 to them, as if it did not exist).

A change is validated against :class:`~parkwatch.wire.rules.RuleSpec` (422
naming the field), published to the Kafka ``rules`` topic, recorded as the
rule's next version (see :mod:`cloud_api.rules`; 503 and nothing recorded
when Kafka is down) and written to the audit log (``rule.<action>``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from cloud_api.accounts import Principal
from cloud_api.dependencies import CurrentPrincipal, Services, get_services, now_ms, require
from cloud_api.paging import Cursor, Limit, decode_int_cursor, encode_int_cursor
from cloud_api.problems import problem_responses
from cloud_api.rules import RuleConflict, RuleNotFound, RuleQuery
from cloud_api.schemas import RollbackBody, RuleBody, RuleList
from parkwatch.wire.rules import RULE_ID_PATTERN, Rule, RuleSpec
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["router", "ConditionType"]

#: ``condition.type`` of the five conditions in :mod:`parkwatch.wire.rules`.
ConditionType = Literal["limit", "rate", "stale", "gateway_offline", "score"]
_MAX_VERSION: Final = 2**31 - 1

router = APIRouter(prefix="/api/v1/rules", tags=["rules"], responses=problem_responses(401, 422, 429, 503))

_Services = Annotated[Services, Depends(get_services)]
_Author = Annotated[Principal, Depends(require("admin", "commander"))]
_RuleId = Annotated[str, Path(pattern=RULE_ID_PATTERN, description="The rule id.")]
_Version = Annotated[int, Path(ge=1, le=_MAX_VERSION, description="A version of the rule.")]
_CHANGE: Final = problem_responses(403, 404, 409, 413)


def _visible(principal: Principal, rule: Rule) -> bool:
    return rule.scope.site is None or principal.may_see(rule.scope.site)


async def _changed(
    services: Services, principal: Principal, action: str, change: Awaitable[Rule], **detail: object
) -> Rule:
    """Await the change (404 or 409 if refused) and audit it."""
    try:
        rule = await change
    except RuleNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except RuleConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    await run_in_threadpool(
        services.audit.record,
        now_ms(),
        principal.name,
        principal.role,
        f"rule.{action}",
        f"rule:{rule.id}",
        {"version": rule.version, "site": rule.scope.site, **detail},
    )
    return rule


@router.post("", response_model=Rule, status_code=201, summary="Create a rule", responses=_CHANGE)
async def create_rule(services: _Services, principal: _Author, body: RuleBody) -> Rule:
    spec = RuleSpec.model_validate(body.model_dump(exclude={"id"}, by_alias=True))
    change = services.rules.create(body.id, spec, principal.name, now_ms())
    return await _changed(services, principal, "create", change)


@router.get(
    "",
    response_model=RuleList,
    summary="List rules by id (deleted ones left out)",
    description="`site`: the rules that apply there, i.e. scoped to it or to no site.",
)
def list_rules(
    services: _Services,
    principal: CurrentPrincipal,
    enabled: Annotated[bool | None, Query()] = None,
    condition: Annotated[ConditionType | None, Query(description="The condition's type.")] = None,
    site: Annotated[str | None, Query(pattern=ID_PATTERN.pattern)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> RuleList:
    offset = decode_int_cursor(cursor) or 0
    query = RuleQuery(enabled, condition, site, principal.sites, limit, offset)
    items, total = services.rules.query(query)
    end = offset + len(items)
    return RuleList(items=items, next_cursor=encode_int_cursor(end) if end < total else None, total=total)


@router.get("/{rule_id}", response_model=Rule, summary="The current version of a rule", responses=_CHANGE)
def get_rule(services: _Services, principal: CurrentPrincipal, rule_id: _RuleId) -> Rule:
    rule = services.rules.get(rule_id)
    if rule is None or not _visible(principal, rule):
        raise HTTPException(404, f"no rule {rule_id!r}")
    return rule


@router.put(
    "/{rule_id}", response_model=Rule, summary="Replace a rule's spec (a new version)", responses=_CHANGE
)
async def edit_rule(services: _Services, principal: _Author, rule_id: _RuleId, body: RuleSpec) -> Rule:
    change = services.rules.update(rule_id, body, principal.name, now_ms())
    return await _changed(services, principal, "update", change)


@router.post(
    "/{rule_id}/disable", response_model=Rule, summary="Disable a rule (a new version)", responses=_CHANGE
)
async def disable_rule(services: _Services, principal: _Author, rule_id: _RuleId) -> Rule:
    change = services.rules.set_enabled(rule_id, False, principal.name, now_ms())
    return await _changed(services, principal, "disable", change)


@router.post(
    "/{rule_id}/enable", response_model=Rule, summary="Enable a rule (a new version)", responses=_CHANGE
)
async def enable_rule(services: _Services, principal: _Author, rule_id: _RuleId) -> Rule:
    change = services.rules.set_enabled(rule_id, True, principal.name, now_ms())
    return await _changed(services, principal, "enable", change)


@router.post(
    "/{rule_id}/rollback",
    response_model=Rule,
    summary="Publish an earlier version's content as the next version",
    responses=_CHANGE,
)
async def rollback_rule(
    services: _Services, principal: _Author, rule_id: _RuleId, body: RollbackBody
) -> Rule:
    change = services.rules.rollback(rule_id, body.version, principal.name, now_ms())
    return await _changed(services, principal, "rollback", change, from_version=body.version)


@router.delete(
    "/{rule_id}",
    status_code=204,
    summary="Delete a rule (a tombstone on the topic; its versions are kept)",
    responses=_CHANGE,
)
async def delete_rule(services: _Services, principal: _Author, rule_id: _RuleId) -> Response:
    await _changed(services, principal, "delete", services.rules.delete(rule_id, now_ms()))
    return Response(status_code=204)


@router.get(
    "/{rule_id}/versions",
    response_model=RuleList,
    summary="A rule's versions, newest first (also of a deleted rule)",
    responses=_CHANGE,
)
def list_versions(
    services: _Services,
    principal: CurrentPrincipal,
    rule_id: _RuleId,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> RuleList:
    items, total, before = services.rules.versions(rule_id, principal.sites, limit, decode_int_cursor(cursor))
    if not total:
        raise HTTPException(404, f"no rule {rule_id!r}")
    return RuleList(
        items=items, next_cursor=encode_int_cursor(before) if before is not None else None, total=total
    )


@router.get(
    "/{rule_id}/versions/{version}", response_model=Rule, summary="One version of a rule", responses=_CHANGE
)
def get_version(
    services: _Services, principal: CurrentPrincipal, rule_id: _RuleId, version: _Version
) -> Rule:
    rule = services.rules.version(rule_id, version)
    if rule is None or not _visible(principal, rule):
        raise HTTPException(404, f"rule {rule_id!r} has no version {version}")
    return rule
