"""The boards, one module each; :data:`BOARDS` lists them in the order Grafana shows them.

Each module has ``UID`` (stable across Grafana instances: links and pushes
rely on it) and ``build()`` returning a grafana-foundation-sdk dashboard
builder. A new board is a new module plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards.boards import alerts, drilldown, overview, pipeline

__all__ = ["BOARDS"]

#: uid -> builder, in display order.
BOARDS: dict[str, Callable[[], Dashboard]] = {
    overview.UID: overview.build,
    drilldown.UID: drilldown.build,
    alerts.UID: alerts.build,
    pipeline.UID: pipeline.build,
}
