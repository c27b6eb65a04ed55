"""Template variables: the datasource picker and the tag drop-downs.

Tag variables are multi-select with an "All" option whose value is ``.*``, so
the panels' ``"site" =~ /^$site$/`` filters match one value, several
(Grafana writes ``(north|south)``) or everything without listing every site.
Each variable is narrowed by the ones before it (gateway by site, device by
site and gateway, ...) and refreshed when the dashboard loads.

``SHOW TAG VALUES`` carries no time filter: InfluxDB 1.x ignores one, and 3.x
limits metadata queries to recent data on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import dashboard as model

from dashboards.target import DATASOURCE, DATASOURCE_TYPE, DATASOURCE_UID, DATASOURCE_VARIABLE, tag_filter

__all__ = ["ALL_VALUE", "custom_variable", "datasource_variable", "tag_query", "tag_variable"]

#: What "All" stands for in a regular expression filter.
ALL_VALUE = ".*"


def datasource_variable() -> dashboard_builders.DatasourceVariable:
    """``$datasource``: any InfluxDB datasource, the provisioned one selected by default.

    A Grafana without a datasource of that uid falls back to its first InfluxDB
    datasource, so pushed dashboards work against an existing setup too.
    """
    return (
        dashboard_builders.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("InfluxDB")
        .type(DATASOURCE_TYPE)
        .multi(False)
        .include_all(False)
        .current(model.VariableOption(selected=True, text=DATASOURCE_UID, value=DATASOURCE_UID))
    )


def tag_query(measurement: str, key: str, narrowed_by: Sequence[str] = ()) -> str:
    """``SHOW TAG VALUES`` for ``key``, filtered by the variables before it.

    >>> tag_query("reading", "gateway", ["site"])
    'SHOW TAG VALUES FROM "reading" WITH KEY = "gateway" WHERE "site" =~ /^$site$/'
    """
    query = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"'
    return f"{query} WHERE {tag_filter(*narrowed_by)}" if narrowed_by else query


def tag_variable(
    key: str,
    *,
    measurement: str = "reading",
    narrowed_by: Sequence[str] = (),
    label: str | None = None,
    start_with_all: bool = True,
) -> dashboard_builders.QueryVariable:
    """A multi-select drop-down of one tag's values.

    It opens on All, or with ``start_with_all=False`` on the first value, which
    keeps a board that draws one line per selected series small in a park of
    thousands of points.
    """
    variable = (
        dashboard_builders.QueryVariable(key)
        .label(label or key.capitalize())
        .datasource(DATASOURCE)
        .query(tag_query(measurement, key, narrowed_by))
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.NATURAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(ALL_VALUE)
    )
    if start_with_all:
        variable.current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    return variable


def custom_variable(name: str, values: Sequence[str], *, label: str) -> dashboard_builders.CustomVariable:
    """A fixed list (for example the severities), multi-select, All by default."""
    return (
        dashboard_builders.CustomVariable(name)
        .label(label)
        .values(",".join(values))
        .multi(True)
        .include_all(True)
        .all_value(ALL_VALUE)
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )
