"""Pipeline health: is every reading getting through, and how fast?

Readings stored per second come from the ``reading`` measurement itself. The
other panels read the ``pipeline`` measurement, the contract the components
write their own counters to (defined in ``dashboards/README.md``; until a
component writes it, its panels stay empty):

================  ==================================================================
tag / field       meaning
================  ==================================================================
``component``     tag: ``edge``, ``bridge``, ``processor`` or ``sink``
``instance``      tag: gateway id for ``edge``, host/worker name otherwise
``readings_in``   integer counter: readings the component accepted since it started
``deadletter``    integer counter: frames sent to the dead-letter topic (bridge)
``gaps``          integer counter: frames missing by ``seq`` (bridge, per gateway)
``lag``           integer gauge: consumer lag in records, summed over its partitions
``outbox_depth``  integer gauge: frames waiting in the edge outbox
================  ==================================================================

Counters start at 0 when a process starts and only grow; the panels take
``non_negative_derivative`` or ``non_negative_difference`` of them, so a restart
shows as a missing point, not a negative rate. Components write one point per
instance every 10 s, time = when the point was taken.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders

from dashboards.boards.common import drilldown_url, new_board
from dashboards.panels import data_link, row, stat_panel, state_timeline, time_series
from dashboards.queries import IN_FLIGHT, readings_per_second, where
from dashboards.target import InfluxQL, tag_filter
from dashboards.variables import tag_variable

__all__ = ["UID", "build", "MEASUREMENT", "COUNTERS", "GAUGES", "LAG_WARNING", "OUTBOX_WARNING"]

UID = "parkwatch-pipeline"
MEASUREMENT = "pipeline"
COUNTERS = ("readings_in", "deadletter", "gaps")
GAUGES = ("lag", "outbox_depth")
#: Records behind before the lag panel turns orange (a few seconds at demo load).
LAG_WARNING = 10_000
#: Frames waiting at the edge before the outbox panel turns orange (minutes of backlog at 1 frame/s).
OUTBOX_WARNING = 100

COMPONENT = tag_filter("component")
SITE = tag_filter("site")


def _pipeline(select: str, *conditions: str, group_by: str = '"component", "instance"') -> str:
    return (
        f'SELECT {select} FROM "{MEASUREMENT}" {where(COMPONENT, *conditions)} '
        f"GROUP BY time($__interval), {group_by} fill(none)"
    )


def _increase(field: str) -> str:
    """Total increase of a counter over the time range, summed over instances."""
    return (
        f'SELECT sum("increase") AS "{field}" FROM ('
        f'SELECT non_negative_difference(max("{field}")) AS "increase" FROM "{MEASUREMENT}" '
        f'{where(COMPONENT)} GROUP BY time($__interval), "instance")'
    )


def build() -> dashboard_builders.Dashboard:
    """The pipeline-health board."""
    board = (
        new_board(
            UID,
            "Pipeline health",
            "Readings per second, consumer lag, edge outbox depth, dead letters and gaps.",
            time_from="now-3h",
            refresh="30s",
        )
        .with_variable(tag_variable("site"))
        .with_variable(tag_variable("component", measurement=MEASUREMENT))
    )

    board.with_row(row("Now"))
    board.with_panel(
        stat_panel(
            "Readings stored / s",
            InfluxQL("A", readings_per_second(SITE)),
            description="Readings written to InfluxDB per second, averaged over the last 5 minutes.",
            steps=((None, "red"), (0.001, "green")),
            calc="mean",
            span=6,
        ).time_from("5m")
    )
    board.with_panel(
        stat_panel(
            "Consumer lag, last 5 min",
            InfluxQL("A", f'SELECT max("lag") AS "lag" FROM "{MEASUREMENT}" {where(COMPONENT)}'),
            description="Highest consumer lag reported in the last 5 minutes, in records.",
            steps=((None, "green"), (LAG_WARNING, "orange"), (10 * LAG_WARNING, "red")),
            span=6,
        ).time_from("5m")
    )
    board.with_panel(
        stat_panel(
            "Edge outbox, last 5 min",
            InfluxQL("A", f'SELECT max("outbox_depth") AS "depth" FROM "{MEASUREMENT}" {where(COMPONENT)}'),
            description="Most frames waiting in any gateway's outbox in the last 5 minutes.",
            steps=((None, "green"), (OUTBOX_WARNING, "orange"), (10 * OUTBOX_WARNING, "red")),
            span=6,
        ).time_from("5m")
    )
    board.with_panel(
        stat_panel(
            "Dead-lettered in range",
            InfluxQL("A", _increase("deadletter")),
            description="Frames the bridge refused (not JSON, NaN, wrong schema, ...) in the time range.",
            steps=((None, "green"), (1, "orange")),
            span=6,
        )
    )

    board.with_row(row("Throughput"))
    board.with_panel(
        time_series(
            "Readings stored per second, by site",
            InfluxQL("A", readings_per_second(SITE, group_by='"site"'), alias="$tag_site"),
            description="From the reading measurement: what reached InfluxDB, by event time.",
            unit="short",
            stacked=True,
        )
    )
    board.with_panel(
        time_series(
            "Readings per second, by stage",
            InfluxQL(
                "A",
                _pipeline('non_negative_derivative(max("readings_in"), 1s) AS "per_s"'),
                alias="$tag_component $tag_instance",
            ),
            description="Readings accepted per second by each instance (edge → bridge → processor).",
            unit="short",
        )
    )

    board.with_row(row("Backlogs"))
    board.with_panel(
        time_series(
            "Consumer lag",
            InfluxQL("A", _pipeline('max("lag") AS "lag"'), alias="$tag_component $tag_instance"),
            description="Records each consumer is behind; steady growth means it cannot keep up.",
            steps=((None, "green"), (LAG_WARNING, "orange"), (10 * LAG_WARNING, "red")),
        )
    )
    board.with_panel(
        time_series(
            "Edge outbox depth",
            InfluxQL("A", _pipeline('max("outbox_depth") AS "depth"'), alias="$tag_instance"),
            description="Frames waiting on each gateway: growth means the uplink or the broker is down.",
            steps=((None, "green"), (OUTBOX_WARNING, "orange"), (10 * OUTBOX_WARNING, "red")),
        )
    )

    board.with_row(row("Losses"))
    board.with_panel(
        time_series(
            "Dead-letter rate",
            InfluxQL(
                "A",
                _pipeline('non_negative_derivative(max("deadletter"), 1m) AS "per_min"'),
                alias="$tag_component $tag_instance",
            ),
            description="Frames sent to the dead-letter topic per minute.",
            steps=((None, "green"), (1, "orange")),
            bars=True,
        )
    )
    board.with_panel(
        time_series(
            "Frame gaps",
            InfluxQL(
                "A",
                _pipeline('non_negative_difference(max("gaps")) AS "missing"'),
                alias="$tag_component $tag_instance",
            ),
            description="Frames missing by sequence number, per interval: lost on the way, not just late.",
            steps=((None, "green"), (1, "red")),
            bars=True,
        )
    )
    board.with_panel(
        state_timeline(
            "Data flow per gateway",
            InfluxQL(
                "A",
                readings_per_second(SITE, IN_FLIGHT, group_by='"site", "gateway"'),
                alias="$tag_site / $tag_gateway",
            ),
            description="Readings stored per second per gateway; red intervals are gaps (last 10 s omitted).",
            steps=((None, "red"), (0.001, "green")),
        ).data_links([data_link("Drill down", drilldown_url("site", "gateway"))])
    )
    return board
