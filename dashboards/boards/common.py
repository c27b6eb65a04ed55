"""What every parkwatch board shares: tags, links between boards, the datasource picker."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import dashboard as model

from dashboards.variables import datasource_variable

__all__ = ["TAG", "drilldown_url", "new_board"]

#: Every board carries this tag; the links bar lists the boards that do.
TAG = "parkwatch"


def new_board(
    uid: str, title: str, description: str, *, time_from: str, refresh: str
) -> dashboard_builders.Dashboard:
    """An empty board: read-only (it is code), shared crosshair, ``$datasource`` first."""
    return (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .readonly()
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time(time_from, "now")
        .refresh(refresh)
        .link(
            dashboard_builders.DashboardLink("parkwatch")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(datasource_variable())
    )


def drilldown_url(*tags: str) -> str:
    """A data link into the drill-down board, carrying the clicked series' tags and the time range.

    >>> drilldown_url("site")
    '/d/parkwatch-drilldown?var-site=${__field.labels.site}&${__url_time_range}'
    """
    params = "&".join(f"var-{tag}=${{__field.labels.{tag}}}" for tag in tags)
    return f"/d/parkwatch-drilldown?{params}&${{__url_time_range}}"
