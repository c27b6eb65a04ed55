"""Panel factories with parkwatch's defaults, on top of grafana-foundation-sdk.

Every factory points the panel at ``$datasource``, takes its queries as
:class:`~dashboards.target.InfluxQL` targets and its size in grid units (24
columns wide); the board places panels left to right, top to bottom.
Thresholds are ``(value, colour)`` steps, lowest first, the first value
``None`` (minus infinity), as :meth:`dashboards.limits.KeyPoint.threshold_steps`
returns them.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards.target import DATASOURCE, InfluxQL

__all__ = [
    "DataLink",
    "SEVERITY_COLOURS",
    "Steps",
    "bar_gauge",
    "data_link",
    "fixed_colour",
    "row",
    "stat_panel",
    "state_timeline",
    "table_panel",
    "thresholds",
    "time_series",
]

Steps = Sequence[tuple[float | None, str]]

#: Severity colours, used the same way on every board.
SEVERITY_COLOURS = {"critical": "red", "warning": "orange", "info": "blue"}


def thresholds(steps: Steps) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds from ``(value, colour)`` steps."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=colour) for value, colour in steps])
    )


class _DataLink(model.DashboardLink):
    """A field data link: Grafana stores only title, url and targetBlank for these."""

    def to_json(self) -> dict[str, object]:
        return {"title": self.title, "url": self.url or "", "targetBlank": self.target_blank}


class DataLink(cogbuilder.Builder[model.DashboardLink]):
    """Builder for a field data link (the SDK types them as dashboard links, which carry more keys)."""

    def __init__(self, title: str, url: str) -> None:
        self._link = _DataLink(title=title, url=url)

    def build(self) -> model.DashboardLink:
        return self._link


def data_link(title: str, url: str) -> DataLink:
    """A link from a value to another board; ``url`` may use ``${__field.labels.site}``."""
    return DataLink(title, url)


def fixed_colour(colour: str) -> list[model.DynamicConfigValue]:
    """Override properties that paint a series in one colour (for ``override_by_name``)."""
    return [model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour})]


def row(title: str) -> dashboard_builders.Row:
    """An expanded row header; the panels added after it belong to it."""
    return dashboard_builders.Row(title).collapsed(False)


def stat_panel(
    title: str,
    *targets: InfluxQL,
    description: str,
    steps: Steps = ((None, "green"),),
    unit: str = "short",
    calc: str = "lastNotNull",
    no_value: str = "0",
    span: int = 4,
    height: int = 5,
) -> stat.Panel:
    """A big number coloured by thresholds; ``no_value`` is shown when nothing matches."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .no_value(no_value)
        .thresholds(thresholds(steps))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs([calc]).values(False))
        .span(span)
        .height(height)
    )
    for target in targets:
        panel.with_target(target)
    return panel


def time_series(
    title: str,
    *targets: InfluxQL,
    description: str,
    unit: str = "short",
    steps: Steps | None = None,
    bars: bool = False,
    stacked: bool = False,
    span: int = 12,
    height: int = 8,
) -> timeseries.Panel:
    """Lines (or bars) over time; with ``steps`` the limits are drawn as dashed lines."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
        .fill_opacity(60 if bars else 10)
        .span(span)
        .height(height)
    )
    if bars:
        panel.draw_style(common.GraphDrawStyle.BARS)
    if stacked:
        panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    if steps is not None:
        panel.thresholds(thresholds(steps)).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
        )
    for target in targets:
        panel.with_target(target)
    return panel


def table_panel(
    title: str,
    *targets: InfluxQL,
    description: str,
    sort_by: str | None = None,
    span: int = 24,
    height: int = 10,
) -> table.Panel:
    """Rows as the query returns them; tags become columns."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .filterable(True)
        .span(span)
        .height(height)
    )
    if sort_by is not None:
        panel.sort_by([common_builders.TableSortByFieldState().display_name(sort_by).desc(True)])
    for target in targets:
        panel.with_target(target)
    return panel


def bar_gauge(
    title: str,
    *targets: InfluxQL,
    description: str,
    steps: Steps,
    unit: str = "short",
    span: int = 8,
    height: int = 8,
) -> bargauge.Panel:
    """One horizontal bar per series, coloured by thresholds (LED style for a wall)."""
    panel = (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .thresholds(thresholds(steps))
        .display_mode(common.BarGaugeDisplayMode.LCD)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .span(span)
        .height(height)
    )
    for target in targets:
        panel.with_target(target)
    return panel


def state_timeline(
    title: str,
    *targets: InfluxQL,
    description: str,
    steps: Steps,
    unit: str = "short",
    span: int = 24,
    height: int = 8,
) -> statetimeline.Panel:
    """One coloured band per series: where it turns red, something stopped."""
    panel = (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .thresholds(thresholds(steps))
        .color_scheme(dashboard_builders.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(False)
        .span(span)
        .height(height)
    )
    for target in targets:
        panel.with_target(target)
    return panel
