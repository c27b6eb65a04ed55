"""Site and device drill-down: one site, gateway, device or point at a time.

The four drop-downs narrow each other (site → gateway → device → point) and
accept several values or All; the board opens on the first site and device.
Panels show the values, their range per interval, the anomaly score the
detectors gave them, readings that were not good, how many readings arrived
(gaps show as dips), and the alerts raised on the selection.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders

from dashboards.boards.common import new_board
from dashboards.limits import SCORE_CRITICAL, SCORE_WARNING
from dashboards.panels import row, table_panel, time_series
from dashboards.queries import ALERT_SERIES, NOT_GOOD, where
from dashboards.target import InfluxQL, tag_filter
from dashboards.variables import tag_variable

__all__ = ["UID", "build"]

UID = "parkwatch-drilldown"
TAGS = ("site", "gateway", "device", "point")
SELECTION = tag_filter(*TAGS)
SERIES = '"site", "gateway", "device", "point"'
ALIAS = "$tag_device $tag_point"


def _per_interval(select: str, *conditions: str, fill: str = "none") -> str:
    return (
        f'SELECT {select} FROM "reading" {where(SELECTION, *conditions)} '
        f"GROUP BY time($__interval), {SERIES} fill({fill})"
    )


def build() -> dashboard_builders.Dashboard:
    """The drill-down board."""
    board = new_board(
        UID,
        "Site and device drill-down",
        "Values, ranges, anomaly scores, quality and alerts of the selected sites, devices and points.",
        time_from="now-6h",
        refresh="30s",
    )
    for i, tag in enumerate(TAGS):
        # One site and one device to start with: All of everything would draw every point in the park.
        start_with_all = tag in ("gateway", "point")
        board.with_variable(tag_variable(tag, narrowed_by=TAGS[:i], start_with_all=start_with_all))

    board.with_row(row("Values"))
    board.with_panel(
        time_series(
            "Value (mean per interval)",
            InfluxQL("A", _per_interval('mean("value") AS "mean"'), alias=ALIAS),
            description="Mean of the good readings in each interval; the interval follows the time range.",
            span=16,
            height=9,
        )
    )
    board.with_panel(
        table_panel(
            "Latest value",
            InfluxQL(
                "A",
                f'SELECT last("value") AS "value" FROM "reading" {where(SELECTION)} GROUP BY {SERIES}',
                result_format="table",
            ),
            description="The newest good reading of each selected point in the time range, with its time.",
            span=8,
            height=9,
        )
    )
    board.with_panel(
        time_series(
            "Value range (min / max per interval)",
            InfluxQL("A", _per_interval('min("value") AS "min"'), alias=f"{ALIAS} min"),
            InfluxQL("B", _per_interval('max("value") AS "max"'), alias=f"{ALIAS} max"),
            description="Spikes that a mean hides show up here.",
        )
    )
    board.with_panel(
        time_series(
            "Anomaly score (max per interval)",
            InfluxQL("A", _per_interval('max("score") AS "score"'), alias=ALIAS),
            description=(
                f"Detector score in [0, 1], higher is more anomalous; lines at {SCORE_WARNING} and "
                f"{SCORE_CRITICAL}."
            ),
            unit="percentunit",
            steps=((None, "green"), (SCORE_WARNING, "orange"), (SCORE_CRITICAL, "red")),
        ).max(1)
    )

    board.with_row(row("Data quality"))
    board.with_panel(
        time_series(
            "Readings not good (per interval)",
            InfluxQL("A", _per_interval('count("quality") AS "not_good"', NOT_GOOD), alias=ALIAS),
            description="Readings flagged bad, stale or comm_loss (device offline) by the gateway.",
            bars=True,
        )
    )
    board.with_panel(
        time_series(
            "Readings stored (per interval)",
            InfluxQL("A", _per_interval('count("quality") AS "stored"', fill="0"), alias=ALIAS),
            description="How many readings arrived; a drop to 0 is a gap in the data.",
            bars=True,
        )
    )

    board.with_row(row("Alerts"))
    board.with_panel(
        table_panel(
            "Alert events for the selection",
            InfluxQL(
                "A",
                f'SELECT "state", "message", "value", "score", "id" FROM "alert" {where(SELECTION)} '
                f"GROUP BY {ALERT_SERIES} ORDER BY time DESC LIMIT 200",
                result_format="table",
            ),
            description="Every state change of alerts on the selected points, newest first (200 per series).",
            sort_by="Time",
        )
    )
    return board
