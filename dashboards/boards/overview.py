"""Park overview: the wall display of a command centre.

Readable from across a room, refreshed every 10 s, one screen: active alerts by
severity, whether every gateway is delivering, and the key gas, temperature and
pressure points against their limits (:mod:`dashboards.limits`). Clicking a
gateway or a site opens the drill-down board with it selected.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import stat, timeseries

from dashboards.boards.common import drilldown_url, new_board
from dashboards.limits import KEY_POINTS, KeyPoint
from dashboards.panels import (
    SEVERITY_COLOURS,
    bar_gauge,
    data_link,
    row,
    stat_panel,
    state_timeline,
    table_panel,
    time_series,
)
from dashboards.queries import (
    ALERT_SERIES,
    IN_FLIGHT,
    NOT_GOOD,
    OPENED,
    active_alerts,
    is_,
    readings_per_second,
    where,
)
from dashboards.target import InfluxQL, tag_filter
from dashboards.variables import tag_variable

__all__ = ["UID", "build"]

UID = "parkwatch-overview"
SITE = tag_filter("site")
#: Active alerts are counted over a fixed week, whatever range the wall shows.
ACTIVE_WINDOW = "7d"


def _active_by_severity(severity: str) -> stat.Panel:
    colour = SEVERITY_COLOURS[severity]
    return stat_panel(
        f"Active {severity}",
        InfluxQL(
            "A",
            active_alerts('count("state") AS "active"', where=f"{SITE} AND {is_('severity', severity)}"),
        ),
        description=(
            f"{severity.capitalize()} alerts whose newest event in the last {ACTIVE_WINDOW} is open or "
            "acknowledged. The cloud API's alert list is the authority; this is what InfluxDB holds."
        ),
        steps=((None, "green"), (1, colour)),
    ).time_from(ACTIVE_WINDOW)


def _key_point(kp: KeyPoint, span: int) -> timeseries.Panel:
    point = is_("point", kp.point)
    targets = [
        InfluxQL(
            "A",
            f'SELECT max("value") AS "max" FROM "reading" {where(point, SITE)} '
            'GROUP BY time($__interval), "site" fill(none)',
            alias="$tag_site max",
        )
    ]
    if kp.watch_low:
        targets.append(
            InfluxQL(
                "B",
                f'SELECT min("value") AS "min" FROM "reading" {where(point, SITE)} '
                'GROUP BY time($__interval), "site" fill(none)',
                alias="$tag_site min",
            )
        )
    return time_series(
        kp.title,
        *targets,
        description=f"Worst value per site and interval, all `{kp.point}` points. Limits: {kp.source}.",
        unit=kp.unit,
        steps=kp.threshold_steps(),
        span=span,
    ).data_links([data_link("Drill down", drilldown_url("site") + f"&var-point={kp.point}")])


def build() -> dashboard_builders.Dashboard:
    """The park overview board."""
    board = new_board(
        UID,
        "Park overview",
        "Wall display: active alerts, gateway data flow and key points against their limits.",
        time_from="now-1h",
        refresh="10s",
    ).with_variable(tag_variable("site"))

    board.with_row(row("Alerts and data flow"))
    for severity in ("critical", "warning", "info"):
        board.with_panel(_active_by_severity(severity))
    board.with_panel(
        stat_panel(
            "Readings stored / s",
            InfluxQL("A", readings_per_second(SITE)),
            description="Readings written to InfluxDB per second, averaged over the last 5 minutes.",
            steps=((None, "red"), (0.001, "green")),
            unit="short",
            calc="mean",
        ).time_from("5m")
    )
    board.with_panel(
        stat_panel(
            "Readings not good",
            InfluxQL(
                "A",
                f'SELECT count("quality") AS "not_good" FROM "reading" {where(SITE, NOT_GOOD)}',
            ),
            description="Readings in the time range whose quality is bad, stale or comm_loss.",
            steps=((None, "green"), (1, "orange")),
        )
    )
    board.with_panel(
        stat_panel(
            "Alerts raised",
            InfluxQL(
                "A",
                f'SELECT count("id") AS "raised" FROM "alert" {where(SITE, OPENED)}',
            ),
            description="Alerts opened in the time range (one open event per incident).",
            steps=((None, "green"), (10, "orange")),
        )
    )

    board.with_panel(
        state_timeline(
            "Gateways: readings per second",
            InfluxQL(
                "A",
                readings_per_second(SITE, IN_FLIGHT, group_by='"site", "gateway"'),
                alias="$tag_site / $tag_gateway",
            ),
            description=(
                "Every gateway that delivered in the time range; red where nothing was stored "
                "for an interval (gateway, network or pipeline down). The last 10 s are left out: "
                "those readings may still be on their way."
            ),
            steps=((None, "red"), (0.001, "green")),
            span=16,
        ).data_links([data_link("Drill down", drilldown_url("site", "gateway"))])
    )
    board.with_panel(
        bar_gauge(
            "Active alerts by site",
            InfluxQL(
                "A",
                active_alerts('count("state") AS "active"', where=SITE, group_by='"site"'),
                alias="$tag_site",
            ),
            description=f"Open or acknowledged alerts per site (newest event in the last {ACTIVE_WINDOW}).",
            steps=((None, "green"), (1, "orange"), (5, "red")),
        )
        .time_from(ACTIVE_WINDOW)
        .data_links([data_link("Drill down", drilldown_url("site"))])
    )

    board.with_row(row("Key points against their limits"))
    for kp in KEY_POINTS:
        board.with_panel(_key_point(kp, span=8))
    board.with_panel(
        bar_gauge(
            "CH4 now: highest detector per gateway",
            InfluxQL(
                "A",
                f'SELECT max("value") AS "max" FROM "reading" {where(is_("point", "ch4"), SITE)} '
                'GROUP BY "site", "gateway"',
                alias="$tag_site / $tag_gateway",
            ),
            description="Highest combustible gas reading per gateway in the last 5 minutes.",
            steps=KEY_POINTS[0].threshold_steps(),
            unit=KEY_POINTS[0].unit,
        )
        .max(100)
        .time_from("5m")
    )

    board.with_row(row("Active alerts"))
    board.with_panel(
        table_panel(
            "Active alerts",
            InfluxQL(
                "A",
                active_alerts(
                    '"state", "message", "value", "score"',
                    where=SITE,
                    fields='"message", "value", "score"',
                    group_by=ALERT_SERIES,
                ),
                result_format="table",
            ),
            description=f"Open or acknowledged alerts (newest event within {ACTIVE_WINDOW}), newest first.",
            sort_by="Time",
        ).time_from(ACTIVE_WINDOW)
    )
    return board
