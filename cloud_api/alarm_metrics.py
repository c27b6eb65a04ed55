"""Alarm management figures (ISA-18.2 / EEMUA 191) from the alerts and their history.

What an alarm management review asks of a period: how many alarms an operator
was shown (against the manageable ~1 per 10 minutes), how much of the time the
site was in a flood (10 or more in 10 minutes), which alarms chatter, which
points are the "bad actors" behind most of the load; and of now: how many are
active, unacknowledged, standing (active for more than a day), shelved or
suppressed.

An **activation** is an alert becoming ``open`` when it was not active: its
first event, or a return after ``resolved`` (the stream processor reopens the
same alert id when a point fires again within ``reopen_within``). Escalations,
flood grouping and a shelve's end also store ``open`` events; those are not
activations. Alerts opened during a maintenance window are stored
``suppressed`` and are not counted (suppressed by design); flood incidents
are counted on their own, not as alarms. A **chattering** alert had at least
:data:`CHATTER_ACTIVATIONS` activations in the period.

    >>> periods = activation_periods([0, 1, 599_999, 600_000], since_ms=0, until_ms=1_800_000)
    >>> periods
    [3, 1, 0]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from sqlalchemy import and_, case, func, or_, select

from cloud_api.db import Database, alert_history, alerts

__all__ = [
    "AlarmMetrics",
    "Activation",
    "PointLoad",
    "SiteLoad",
    "alarm_metrics",
    "activation_periods",
    "PERIOD_MS",
    "FLOOD_ACTIVATIONS",
    "CHATTER_ACTIVATIONS",
    "STANDING_MS",
]

#: The period of the alarm rate: EEMUA 191's "per 10 minutes".
PERIOD_MS: Final = 600_000
#: Activations in one period from which the period counts as a flood.
FLOOD_ACTIVATIONS: Final = 10
#: Activations in the reviewed range from which an alert counts as chattering.
CHATTER_ACTIVATIONS: Final = 3
#: Active for longer than this: a standing alarm.
STANDING_MS: Final = 86_400_000
#: Entries in the chattering and bad-actor lists.
TOP: Final = 10


@dataclass(frozen=True, slots=True)
class Activation:
    """An alert with its activations in the range (a chattering alarm)."""

    id: str
    site: str
    gateway: str
    device: str
    point: str
    rule: str
    activations: int


@dataclass(frozen=True, slots=True)
class PointLoad:
    site: str
    gateway: str
    device: str
    point: str
    activations: int


@dataclass(frozen=True, slots=True)
class SiteLoad:
    site: str
    activations: int
    active: int
    unacknowledged: int
    standing: int


class _Activated(NamedTuple):
    """One activation as the query returns it."""

    alert_id: str
    at_ms: int
    site: str
    gateway: str
    device: str
    point: str
    rule: str


@dataclass(slots=True)
class AlarmMetrics:
    since_ms: int
    until_ms: int
    activations: int = 0
    flood_incidents: int = 0
    #: Activations per period of :data:`PERIOD_MS`, oldest first (the last may be partial).
    periods: list[int] = field(default_factory=list)
    active: int = 0
    unacknowledged: int = 0
    standing: int = 0
    shelved: int = 0
    suppressed: int = 0
    chattering: list[Activation] = field(default_factory=list)
    bad_actors: list[PointLoad] = field(default_factory=list)
    by_site: list[SiteLoad] = field(default_factory=list)


def activation_periods(times_ms: list[int], since_ms: int, until_ms: int) -> list[int]:
    """Activations per :data:`PERIOD_MS` from ``since_ms`` (the last period may be partial)."""
    counts = [0] * max(1, -(-(until_ms - since_ms) // PERIOD_MS))
    for t in times_ms:
        counts[(t - since_ms) // PERIOD_MS] += 1
    return counts


def alarm_metrics(
    db: Database, sites: tuple[str, ...] | None, since_ms: int, until_ms: int, now_ms: int
) -> AlarmMetrics:
    """The figures of ``[since_ms, until_ms)`` and of now for ``sites`` (``None``: all); blocks."""
    in_sites = alerts.c.site.in_(sites) if sites is not None else and_(True)
    alarms = and_(alerts.c.kind != "flood", in_sites)
    history = alert_history.c
    previous = func.lag(history.state).over(
        partition_by=history.alert_id, order_by=(history.updated_ms, history.state)
    )
    touched = select(alerts.c.id).where(
        alarms, alerts.c.started_ms < until_ms, alerts.c.updated_ms >= since_ms
    )
    steps = (
        select(history.alert_id, history.updated_ms, history.state, previous.label("previous"))
        .where(history.alert_id.in_(touched), history.updated_ms < until_ms)
        .subquery()
    )
    a = alerts.c
    activations_q = (
        select(steps.c.alert_id, steps.c.updated_ms, a.site, a.gateway, a.device, a.point, a.rule)
        .join(alerts, a.id == steps.c.alert_id)
        .where(
            steps.c.state == "open",
            steps.c.updated_ms >= since_ms,
            or_(steps.c.previous.is_(None), steps.c.previous == "resolved"),
        )
    )
    metrics = AlarmMetrics(since_ms, until_ms)
    with db.read() as conn:
        found = [_Activated(*row) for row in conn.execute(activations_q)]
        metrics.flood_incidents = int(
            conn.execute(
                select(func.count()).where(
                    alerts.c.kind == "flood",
                    in_sites,
                    alerts.c.started_ms >= since_ms,
                    alerts.c.started_ms < until_ms,
                )
            ).scalar()
            or 0
        )
        now_rows = conn.execute(
            select(
                alerts.c.site,
                alerts.c.state,
                func.count(),
                func.sum(case((alerts.c.started_ms <= now_ms - STANDING_MS, 1), else_=0)),
            )
            .where(alarms, alerts.c.state.in_(("open", "acknowledged", "shelved", "suppressed")))
            .group_by(alerts.c.site, alerts.c.state)
        ).all()

    metrics.activations = len(found)
    metrics.periods = activation_periods([f.at_ms for f in found], since_ms, until_ms)
    described = {f.alert_id: f for f in found}
    per_alert = Counter(f.alert_id for f in found)
    metrics.chattering = [
        Activation(a, d.site, d.gateway, d.device, d.point, d.rule, n)
        for a, n in per_alert.most_common()
        if n >= CHATTER_ACTIVATIONS
        for d in (described[a],)
    ][:TOP]
    per_point = Counter((f.site, f.gateway, f.device, f.point) for f in found)
    metrics.bad_actors = [PointLoad(*key, n) for key, n in per_point.most_common(TOP)]

    per_site: dict[str, list[int]] = {}  # site -> [activations, active, unacknowledged, standing]
    for f in found:
        per_site.setdefault(f.site, [0, 0, 0, 0])[0] += 1
    for site, state, count, standing in now_rows:
        figures = per_site.setdefault(site, [0, 0, 0, 0])
        if state in ("open", "acknowledged"):
            metrics.active += count
            metrics.standing += int(standing or 0)
            figures[1] += count
            figures[3] += int(standing or 0)
        if state == "open":
            metrics.unacknowledged += count
            figures[2] += count
        elif state == "shelved":
            metrics.shelved += count
        elif state == "suppressed":
            metrics.suppressed += count
    metrics.by_site = [SiteLoad(site, *figures) for site, figures in sorted(per_site.items())]
    return metrics
