"""``/api/v1/sites``, ``/api/v1/points`` and a point's history.

Every role may read; inspectors see only their sites (another site's point is
404). Sensitive values are masked (null, ``masked: true``) for roles without
clearance; a cleared caller's read of them is audited. The lists are plain
functions (their InfluxDB reads block, so FastAPI runs them in its thread
pool); the history, the one a wall of charts calls most, awaits InfluxDB on
the event loop (identical reads share a query for a moment, see
:mod:`cloud_api.registry`), sends only its blocking audit write to a thread
and answers JSON encoded straight from InfluxDB's rows
(:func:`point_history_json`), without a pydantic model per bucket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import pydantic_core
from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response

from cloud_api.dependencies import CurrentPrincipal, Services, get_services, now_ms
from cloud_api.masking import must_mask
from cloud_api.paging import Cursor, Limit, decode_int_cursor, encode_int_cursor, invalid
from cloud_api.problems import problem_responses
from cloud_api.registry import HistoryRow, Latest, PointInfo
from cloud_api.schemas import PointHistory, PointList, PointStatus, Site, SiteList
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["router", "point_history_json"]

router = APIRouter(prefix="/api/v1", tags=["registry"], responses=problem_responses(401, 422, 429, 503))

_MAX_MS = 2**63 - 1
_Services = Annotated[Services, Depends(get_services)]
_IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN.pattern)]
_IdPath = Annotated[str, Path(pattern=ID_PATTERN.pattern)]


def _status(latest: Latest | None, now: int, stale_after_ms: float) -> str:
    if latest is None:
        return "no_data"
    if now - latest.ts_ms > stale_after_ms:
        return "stale"
    return "ok" if latest.quality in (None, "good") else "bad"


@router.get("/sites", response_model=SiteList, summary="Sites with their gateways and counts")
def list_sites(
    services: _Services, principal: CurrentPrincipal, limit: Limit = 100, cursor: Cursor = None
) -> SiteList:
    offset = decode_int_cursor(cursor) or 0
    by_site: dict[str, list[PointInfo]] = {}
    for p in services.registry.points(principal.sites):
        by_site.setdefault(p.site, []).append(p)
    sites = [
        Site(
            site=name,
            gateways=sorted({p.gateway for p in points}),
            devices=len({(p.gateway, p.device) for p in points}),
            points=len(points),
        )
        for name, points in sorted(by_site.items())
    ]
    end = offset + limit
    return SiteList(
        items=sites[offset:end],
        next_cursor=encode_int_cursor(end) if end < len(sites) else None,
        total=len(sites),
    )


@router.get("/points", response_model=PointList, summary="Points with their latest value, quality and status")
def list_points(
    services: _Services,
    principal: CurrentPrincipal,
    site: _IdQuery = None,
    gateway: _IdQuery = None,
    device: _IdQuery = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> PointList:
    offset = decode_int_cursor(cursor) or 0
    points = [
        p
        for p in services.registry.points(principal.sites)
        if (site is None or p.site == site)
        and (gateway is None or p.gateway == gateway)
        and (device is None or p.device == device)
    ]
    end = offset + limit
    page = points[offset:end]
    latest = services.registry.latest(site) if page else {}
    now = now_ms()
    stale_ms = services.api_settings.stale_after_s * 1000
    items: list[PointStatus] = []
    sensitive_read: list[str] = []
    for p in page:
        last = latest.get((p.site, p.gateway, p.device, p.point))
        masked = must_mask(principal, p.classification == "sensitive")
        if p.classification == "sensitive" and not masked and last is not None:
            sensitive_read.append(f"{p.site}/{p.gateway}/{p.device}/{p.point}")
        items.append(
            PointStatus(
                site=p.site,
                gateway=p.gateway,
                device=p.device,
                point=p.point,
                unit=p.unit,
                description=p.description,
                profile=p.profile,
                classification=p.classification,
                masked=masked,
                status=_status(last, now, stale_ms),  # type: ignore[arg-type]
                ts_ms=last.ts_ms if last else None,
                value=None if masked or last is None else last.value,
                quality=last.quality if last else None,
            )
        )
    if sensitive_read:
        services.audit.record(
            now, principal.name, principal.role, "sensitive.read", "points", {"points": sensitive_read}
        )
    return PointList(
        items=items, next_cursor=encode_int_cursor(end) if end < len(points) else None, total=len(points)
    )


@router.get(
    "/points/{site}/{gateway}/{device}/{point}/history",
    response_model=PointHistory,
    summary="A point's values over a range, downsampled to at most 500 buckets",
    responses=problem_responses(404),
)
async def point_history(
    services: _Services,
    principal: CurrentPrincipal,
    site: _IdPath,
    gateway: _IdPath,
    device: _IdPath,
    point: _IdPath,
    from_ms: Annotated[int, Query(ge=0, le=_MAX_MS, description="Start (inclusive, epoch ms).")],
    to_ms: Annotated[int, Query(ge=0, le=_MAX_MS, description="End (exclusive, epoch ms).")],
) -> Response:
    if to_ms <= from_ms:
        raise invalid("to_ms", "must be after from_ms", to_ms)
    if to_ms - from_ms > 400 * 86_400_000:
        raise invalid("to_ms", "the range may span at most 400 days", to_ms)
    if not principal.may_see(site):
        raise HTTPException(404, f"no point {site}/{gateway}/{device}/{point}")
    classification = services.registry.classify(site, gateway, device, point)
    masked = must_mask(principal, classification == "sensitive")
    interval, rows = await services.registry.history((site, gateway, device, point), from_ms, to_ms)
    if classification == "sensitive" and not masked:
        await asyncio.to_thread(
            services.audit.record,
            now_ms(),
            principal.name,
            principal.role,
            "sensitive.read",
            f"point:{site}/{gateway}/{device}/{point}",
            {"from_ms": from_ms, "to_ms": to_ms},
        )
    body = point_history_json((site, gateway, device, point), from_ms, to_ms, interval, masked, rows)
    return Response(body, media_type="application/json")


def point_history_json(
    key: tuple[str, str, str, str],
    from_ms: int,
    to_ms: int,
    interval_ms: int,
    masked: bool,
    rows: Sequence[HistoryRow],
) -> bytes:
    """The history body, as a validated :class:`PointHistory` would be serialised (values null
    when ``masked``). Up to 500 buckets: a model per bucket cost more than the rest of the request,
    and pydantic's encoder takes a quarter of ``json.dumps``'s time.

    >>> body = point_history_json(("n", "g", "d", "p"), 0, 20_000, 10_000, False, [(0, 1.5, 1.0, 2.0, 2)])
    >>> PointHistory.model_validate_json(body).buckets[0].mean
    1.5
    >>> import json
    >>> json.loads(point_history_json(("n", "g", "d", "p"), 0, 20_000, 10_000, True, [(0, 1.5, 1.0, 2.0, 2)]))
    ... # doctest: +NORMALIZE_WHITESPACE
    {'site': 'n', 'gateway': 'g', 'device': 'd', 'point': 'p', 'from_ms': 0, 'to_ms': 20000,
     'interval_ms': 10000, 'masked': True, 'buckets': [{'t_ms': 0, 'mean': None, 'min': None, 'max': None,
     'count': 2}]}
    """
    site, gateway, device, point = key
    buckets: list[dict[str, float | None]]
    if masked:
        buckets = [{"t_ms": t, "mean": None, "min": None, "max": None, "count": n} for t, _, _, _, n in rows]
    else:
        buckets = [{"t_ms": t, "mean": m, "min": lo, "max": hi, "count": n} for t, m, lo, hi, n in rows]
    body = {
        "site": site,
        "gateway": gateway,
        "device": device,
        "point": point,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "interval_ms": interval_ms,
        "masked": masked,
        "buckets": buckets,
    }
    return pydantic_core.to_json(body, inf_nan_mode="null")
