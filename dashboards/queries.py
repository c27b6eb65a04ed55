"""InfluxQL shared by several boards and the provisioned alert rules.

Everything here reads the measurements in ``docs/wire.md`` (``reading``,
``alert``) and the ``pipeline`` measurement defined in ``dashboards/README.md``.
See :mod:`dashboards.target` for the placeholders (``$timeFilter``,
``$__interval``, ``$site``) and the InfluxQL subset kept to.

>>> print(active_alerts('count("state")', where=is_("site", "north")))  # doctest: +NORMALIZE_WHITESPACE
SELECT count("state") FROM (SELECT last("state") AS "state" FROM "alert"
WHERE $timeFilter AND "site" = 'north'
GROUP BY "site", "gateway", "device", "point", "rule", "severity")
WHERE ("state" = 'open' OR "state" = 'acknowledged')
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ACTIVE_STATES",
    "ALERT_SERIES",
    "IN_FLIGHT",
    "NOT_GOOD",
    "OPENED",
    "active_alerts",
    "is_",
    "readings_per_second",
    "where",
]

#: Alert states that count as active. Shelved and suppressed alerts are hidden on
#: purpose (ISA-18.2): an operator or the design took them off the board.
ACTIVE_STATES = ("open", "acknowledged")

#: The tags of ``alert``: one series per sensor and rule, so the newest event of a
#: series is the current state of that sensor's alert.
ALERT_SERIES = '"site", "gateway", "device", "point", "rule", "severity"'

#: Readings whose quality is bad, stale or comm_loss (they carry no value).
NOT_GOOD = "\"quality\" != 'good'"
#: The first event of an incident: every alert is opened exactly once.
OPENED = "\"state\" = 'open'"


def is_(key: str, value: str) -> str:
    """An equality test on a tag or string field.

    >>> print(is_("point", "ch4"))
    "point" = 'ch4'
    """
    return f"\"{key}\" = '{value}'"


def where(*conditions: str) -> str:
    """``WHERE $timeFilter AND ...``: every panel query is bounded by the time range.

    >>> print(where(is_("point", "ch4"), ""))
    WHERE $timeFilter AND "point" = 'ch4'
    """
    return " AND ".join(["WHERE $timeFilter", *(c for c in conditions if c)])


def active_alerts(
    select: str,
    *,
    where: str = "",
    group_by: str = "",
    fields: str = "",
    states: Sequence[str] = ACTIVE_STATES,
) -> str:
    """Alerts whose newest event (in the time range) is in one of ``states``.

    The inner query takes the newest event of every alert series matching
    ``where`` (tag conditions only: a condition on ``state`` there would pick
    the newest event *in that state*, not the current one); ``fields`` (for
    example ``"message", "value"``) are read from that same event. The outer
    query keeps the series in ``states`` and applies ``select`` and ``group_by``.
    """
    inner_where = " AND ".join(c for c in ("$timeFilter", where) if c)
    inner_fields = f", {fields}" if fields else ""
    state_filter = " OR ".join(f"\"state\" = '{state}'" for state in states)
    query = (
        f'SELECT {select} FROM (SELECT last("state") AS "state"{inner_fields} FROM "alert" '
        f"WHERE {inner_where} GROUP BY {ALERT_SERIES}) WHERE ({state_filter})"
    )
    return f"{query} GROUP BY {group_by}" if group_by else query


#: Readings still on their way (gateway frame interval plus pipeline latency): a
#: data-flow panel leaves the newest seconds out so they do not show as a gap.
IN_FLIGHT = "time < now() - 10s"


def readings_per_second(*conditions: str, group_by: str = "") -> str:
    """Readings stored per second, per ``$__interval`` bucket, silent buckets as 0.

    ``count("quality")`` counts every stored reading (``value`` is absent when
    the quality is not good); dividing by the bucket width gives a rate that
    does not change with the time range.
    """
    tags = f", {group_by}" if group_by else ""
    return (
        f'SELECT count("quality") * 1000 / $__interval_ms AS "per_s" FROM "reading" '
        f"{where(*conditions)} GROUP BY time($__interval){tags} fill(0)"
    )
