"""Alert board: what is active, how fast alerts arrive, and who raises them.

Built around alarm-management practice (ISA-18.2, EEMUA 191): active alerts
split by acknowledgement, the alarm rate against the flood line of 10 alarms
per 10 minutes, the points that alarm most (chattering), and the event log.
Shelved and suppressed alerts are not counted as active.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import stat

from dashboards.boards.common import drilldown_url, new_board
from dashboards.panels import (
    SEVERITY_COLOURS,
    bar_gauge,
    data_link,
    fixed_colour,
    row,
    stat_panel,
    table_panel,
    time_series,
)
from dashboards.queries import ACTIVE_STATES, ALERT_SERIES, OPENED, active_alerts, is_, where
from dashboards.target import InfluxQL, tag_filter
from dashboards.variables import custom_variable, tag_variable

__all__ = ["UID", "build", "FLOOD_PER_10_MIN"]

UID = "parkwatch-alerts"
SELECTION = tag_filter("site", "severity")
#: EEMUA 191: ten or more alarms in 10 minutes per operator is a flood.
FLOOD_PER_10_MIN = 10
ACTIVE_WINDOW = "7d"


def _active(title: str, colour: str, description: str, *, where: str, states: tuple[str, ...]) -> stat.Panel:
    return stat_panel(
        title,
        InfluxQL("A", active_alerts('count("state") AS "active"', where=where, states=states)),
        description=f"{description} Newest event in the last {ACTIVE_WINDOW}.",
        steps=((None, "green"), (1, colour)),
    ).time_from(ACTIVE_WINDOW)


def build() -> dashboard_builders.Dashboard:
    """The alert board."""
    board = (
        new_board(
            UID,
            "Alerts",
            "Active alerts, alarm rate against the flood line, most frequent alarms and the event log.",
            time_from="now-24h",
            refresh="30s",
        )
        .with_variable(tag_variable("site"))
        .with_variable(custom_variable("severity", list(SEVERITY_COLOURS), label="Severity"))
    )

    board.with_row(row("Now"))
    site = tag_filter("site")
    for severity, colour in SEVERITY_COLOURS.items():
        board.with_panel(
            _active(
                f"Active {severity}",
                colour,
                f"{severity.capitalize()} alerts that are open or acknowledged.",
                where=f"{site} AND {is_('severity', severity)}",
                states=ACTIVE_STATES,
            )
        )
    board.with_panel(
        _active(
            "Unacknowledged",
            "red",
            "Active alerts of the selected severities that nobody has acknowledged yet.",
            where=SELECTION,
            states=("open",),
        )
    )
    board.with_panel(
        _active(
            "Acknowledged",
            "orange",
            "Active alerts of the selected severities that an operator has acknowledged.",
            where=SELECTION,
            states=("acknowledged",),
        )
    )
    board.with_panel(
        stat_panel(
            "Raised in range",
            InfluxQL("A", f'SELECT count("id") AS "raised" FROM "alert" {where(SELECTION, OPENED)}'),
            description="Alerts opened in the time range.",
            steps=((None, "green"), (FLOOD_PER_10_MIN, "orange")),
        )
    )

    board.with_row(row("Alarm load"))
    alarm_rate = time_series(
        "Alarm rate (per 10 minutes)",
        InfluxQL(
            "A",
            f'SELECT count("id") * 600000 / $__interval_ms AS "per_10_min" FROM "alert" '
            f'{where(SELECTION, OPENED)} GROUP BY time($__interval), "severity" fill(0)',
            alias="$tag_severity",
        ),
        description=(
            f"Alerts opened per 10 minutes, averaged over each interval (at least 10 minutes). "
            f"The line at {FLOOD_PER_10_MIN} is the EEMUA 191 flood level for one operator."
        ),
        steps=((None, "green"), (FLOOD_PER_10_MIN, "red")),
        bars=True,
        stacked=True,
        span=16,
    ).interval("10m")
    for severity, colour in SEVERITY_COLOURS.items():
        alarm_rate.override_by_name(severity, fixed_colour(colour))
    board.with_panel(alarm_rate)
    board.with_panel(
        bar_gauge(
            "Most frequent alarms",
            InfluxQL(
                "A",
                f'SELECT count("id") AS "raised" FROM "alert" {where(SELECTION, OPENED)} '
                'GROUP BY "site", "device", "point", "rule"',
                alias="$tag_site $tag_device $tag_point $tag_rule",
            ),
            description="Alerts opened per point and rule in the time range; chattering alarms top it.",
            steps=((None, "green"), (3, "orange"), (FLOOD_PER_10_MIN, "red")),
        ).data_links([data_link("Drill down", drilldown_url("site", "device", "point"))])
    )

    board.with_row(row("Alerts"))
    board.with_panel(
        table_panel(
            "Active alerts",
            InfluxQL(
                "A",
                active_alerts(
                    '"state", "message", "value", "score", "id"',
                    where=SELECTION,
                    fields='"message", "value", "score", "id"',
                    group_by=ALERT_SERIES,
                ),
                result_format="table",
            ),
            description=f"Open or acknowledged alerts (newest event within {ACTIVE_WINDOW}), newest first.",
            sort_by="Time",
        ).time_from(ACTIVE_WINDOW)
    )
    board.with_panel(
        table_panel(
            "Alert events",
            InfluxQL(
                "A",
                f'SELECT "state", "message", "value", "score", "id" FROM "alert" {where(SELECTION)} '
                f"GROUP BY {ALERT_SERIES} ORDER BY time DESC LIMIT 100",
                result_format="table",
            ),
            description="Every alert state change in the time range, newest first (100 per series).",
            sort_by="Time",
        )
    )
    return board
