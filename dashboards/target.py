"""InfluxQL panel targets: the one query type every parkwatch panel uses.

grafana-foundation-sdk ships typed queries for Prometheus, Loki and others but
not for InfluxDB, so this module supplies the missing variant: a raw InfluxQL
query in the JSON shape Grafana's built-in InfluxDB datasource stores
(``refId``, ``query``, ``rawQuery``, ``resultFormat``, ``alias``).

Queries are written for the subset of InfluxQL that InfluxDB 1.x, 2.x (v1
compatibility API) and 3.x all answer: ``SELECT`` with ``count``, ``mean``,
``max``, ``min``, ``last``, ``spread``, ``non_negative_derivative`` and
``non_negative_difference``; subqueries; ``GROUP BY time()`` with ``fill``;
tag filters with regular expressions; ``SHOW TAG VALUES``. No ``SLIMIT``,
``SOFFSET``, cardinality or ``INTO`` statements (InfluxDB 3 lacks them).

Placeholders Grafana fills in before a query runs:

- ``$timeFilter``: the dashboard (or panel) time range, ``time >= ... AND time <= ...``;
- ``$__interval`` / ``$__interval_ms``: the bucket width Grafana derives from
  the time range and the panel width, so ``GROUP BY time($__interval)``
  coarsens as the range grows;
- ``$site``, ``$gateway``, ...: template variables, used as ``"site" =~ /^$site$/``
  so one value, several (``(a|b)``) and All (``.*``) all work.

>>> q = InfluxQL("A", 'SELECT mean("value") FROM "reading" WHERE $timeFilter GROUP BY time($__interval)')
>>> q.build().to_json()["rawQuery"]
True
"""

from __future__ import annotations

from typing import Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

__all__ = [
    "DATASOURCE",
    "DATASOURCE_TYPE",
    "DATASOURCE_UID",
    "DATASOURCE_VARIABLE",
    "InfluxQL",
    "InfluxQLQuery",
    "ResultFormat",
    "tag_filter",
]

#: Plugin id of Grafana's built-in InfluxDB datasource.
DATASOURCE_TYPE = "influxdb"
#: The uid the provisioning file gives the parkwatch datasource; alert rules refer to it.
DATASOURCE_UID = "parkwatch-influxdb"
#: Dashboard variable holding the datasource, so a pushed dashboard works with any InfluxDB datasource.
DATASOURCE_VARIABLE = "datasource"
#: What panels and targets point at: whichever datasource ``$datasource`` selects.
DATASOURCE = DataSourceRef(type_val=DATASOURCE_TYPE, uid=f"${{{DATASOURCE_VARIABLE}}}")

ResultFormat = Literal["time_series", "table"]


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL query, serialised as Grafana's InfluxDB datasource stores it."""

    def __init__(self, ref_id: str, query: str, result_format: ResultFormat, alias: str | None) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "datasource": DATASOURCE.to_json(),
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            doc["alias"] = self.alias
        return doc


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder for :class:`InfluxQLQuery`, accepted wherever the SDK takes a target.

    ``alias`` uses Grafana's InfluxQL alias patterns (``$tag_site``, ``$col``).
    """

    def __init__(
        self,
        ref_id: str,
        query: str,
        *,
        result_format: ResultFormat = "time_series",
        alias: str | None = None,
    ) -> None:
        self._query = InfluxQLQuery(ref_id, query, result_format, alias)

    def build(self) -> InfluxQLQuery:
        return self._query


def tag_filter(*tags: str) -> str:
    """``"a" =~ /^$a$/ AND ...`` for template variables named like the tags they filter.

    >>> tag_filter("site", "gateway")
    '"site" =~ /^$site$/ AND "gateway" =~ /^$gateway$/'
    """
    return " AND ".join(f'"{tag}" =~ /^${tag}$/' for tag in tags)
