"""``GET /api/v1/alarm-metrics``: the alarm management figures of a period and of now.

Every role may read; an inspector's figures cover only the assigned sites. The
figures carry no process values, so nothing is masked. Definitions: see
:mod:`cloud_api.alarm_metrics`.

Figures of the default range (the last day up to now), which every wall polls,
are computed once for each scope of sites and shared for :data:`SHARED_S`:
about 0.2 s of database work for 20,000 alerts a day would otherwise be paid
by every wall.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cloud_api.alarm_metrics import (
    CHATTER_ACTIVATIONS,
    FLOOD_ACTIVATIONS,
    PERIOD_MS,
    Activation,
    AlarmMetrics,
    PointLoad,
    SiteLoad,
    alarm_metrics,
)
from cloud_api.dependencies import CurrentPrincipal, Services, get_services, now_ms, run_report
from cloud_api.paging import invalid
from cloud_api.problems import problem_responses
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["router", "AlarmMetricsBody"]

#: The longest range one request may review.
MAX_RANGE_MS: Final = 31 * 86_400_000
_DAY_MS: Final = 86_400_000
#: How long the figures of the default range serve identical requests: walls poll every 30 s.
SHARED_S: Final = 5.0

router = APIRouter(
    prefix="/api/v1", tags=["alarm management"], responses=problem_responses(401, 422, 429, 503)
)


class AlarmMetricsBody(BaseModel):
    since_ms: int
    until_ms: int
    activations: int = Field(
        description="Alerts that became open in the range (first opens and reopens; not escalations, "
        "suppressed alerts or flood incidents)."
    )
    per_10min_average: float = Field(description="Activations per 10 minutes; about 1 is manageable.")
    per_10min_peak: int
    peak_period_start_ms: int | None = Field(
        description="Start of the busiest 10 minutes (none if no activation)."
    )
    flood_periods: int = Field(description=f"10-minute periods with {FLOOD_ACTIVATIONS} or more activations.")
    flood_time_percent: float = Field(description="Share of the range's 10-minute periods in flood.")
    flood_incidents: int = Field(description="Flood incidents the stream processor opened in the range.")
    periods: list[int] = Field(
        description="Activations per 10 minutes from since_ms (the last may be partial)."
    )
    active: int = Field(description="Open or acknowledged now.")
    unacknowledged: int = Field(description="Open now.")
    standing: int = Field(description="Active now for more than a day.")
    shelved: int
    suppressed: int
    chattering: list[Activation] = Field(
        description=f"Up to 10 alerts with {CHATTER_ACTIVATIONS} or more activations in the range."
    )
    bad_actors: list[PointLoad] = Field(description="The 10 points with the most activations in the range.")
    by_site: list[SiteLoad] = Field(
        description="Per site: activations in the range; active, unacknowledged and standing now."
    )


def _range(since_ms: int | None, until_ms: int | None, now: int) -> tuple[int, int]:
    until = until_ms if until_ms is not None else now
    return (since_ms if since_ms is not None else max(0, until - _DAY_MS)), until


@router.get(
    "/alarm-metrics",
    response_model=AlarmMetricsBody,
    summary="Alarm rate, floods, chattering and standing alarms, bad actors (ISA-18.2 / EEMUA 191)",
)
async def get_alarm_metrics(
    services: Annotated[Services, Depends(get_services)],
    principal: CurrentPrincipal,
    site: Annotated[str | None, Query(pattern=ID_PATTERN.pattern, description="Only this site.")] = None,
    since_ms: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="Start (inclusive, epoch ms); default until_ms - 1 day."),
    ] = None,
    until_ms: Annotated[
        int | None, Query(ge=0, le=2**62, description="End (exclusive, epoch ms); default now.")
    ] = None,
) -> AlarmMetricsBody:
    since, until = _range(since_ms, until_ms, now_ms())
    if until <= since:
        raise invalid("until_ms", "must be after since_ms", until)
    if until - since > MAX_RANGE_MS:
        raise invalid("since_ms", "the range may span at most 31 days", since)
    visible = principal.sites
    if site is not None:
        sites: tuple[str, ...] | None = (site,) if visible is None or site in visible else ()
    else:
        sites = tuple(sorted(visible)) if visible is not None else None

    async def figures() -> AlarmMetrics:
        now = now_ms()
        lo, hi = _range(since_ms, until_ms, now)
        return await run_report(services, alarm_metrics, services.store.db, sites, lo, hi, now)

    if since_ms is None and until_ms is None:  # a wall's poll: shared by the walls of one scope
        m = await services.alarm_figures.get(sites, figures, SHARED_S)
    else:
        m = await figures()
    peak = max(m.periods)
    floods = sum(1 for p in m.periods if p >= FLOOD_ACTIVATIONS)
    return AlarmMetricsBody(
        since_ms=m.since_ms,
        until_ms=m.until_ms,
        activations=m.activations,
        per_10min_average=round(m.activations * PERIOD_MS / (m.until_ms - m.since_ms), 3),
        per_10min_peak=peak,
        peak_period_start_ms=m.since_ms + m.periods.index(peak) * PERIOD_MS if peak else None,
        flood_periods=floods,
        flood_time_percent=round(100 * floods / len(m.periods), 2),
        flood_incidents=m.flood_incidents,
        periods=m.periods,
        active=m.active,
        unacknowledged=m.unacknowledged,
        standing=m.standing,
        shelved=m.shelved,
        suppressed=m.suppressed,
        chattering=m.chattering,
        bad_actors=m.bad_actors,
        by_site=m.by_site,
    )
