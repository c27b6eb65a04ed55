"""Every dashboard validates against the dashboard schema, and the schema catches real mistakes."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.render import render_all
from dashboards.schema import validate_dashboard

DOCS = render_all()


@pytest.mark.parametrize("uid", list(DOCS))
def test_every_dashboard_validates(uid: str) -> None:
    assert validate_dashboard(DOCS[uid]) == []


@pytest.mark.parametrize("uid", list(DOCS))
def test_the_sdk_types_read_every_key_back(uid: str) -> None:
    """grafana-foundation-sdk's models (generated from Grafana's dashboard kind) drop keys they do not
    know; reading the JSON into them and writing it out again must give the same document.
    The SDK types field data links as dashboard links, which carry more keys; those are trimmed."""
    back = json.loads(json.dumps(Dashboard.from_json(copy.deepcopy(DOCS[uid])), cls=JSONEncoder))
    for panel in back["panels"]:
        for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", []):
            for key in set(link) - {"title", "url", "targetBlank"}:
                del link[key]
    assert back == DOCS[uid]


def _panel(doc: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [p for p in doc["panels"] if p["title"] == title]
    return found


def _steps(doc: dict[str, Any], title: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _panel(doc, title)["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return steps


Mutation = Callable[[dict[str, Any]], None]

#: (case, board, what to break, the problem reported)
CASES: list[tuple[str, str, Mutation, str]] = [
    (
        "typo in a panel key",
        "parkwatch-overview",
        lambda d: _panel(d, "Active critical").update(timefrom="7d"),
        "panels[1]: Additional properties are not allowed ('timefrom' was unexpected)",
    ),
    (
        "panel wider than the grid",
        "parkwatch-overview",
        lambda d: _panel(d, "Active alerts by site")["gridPos"].update(w=30),
        "panels[8].gridPos.w: 30 is greater than the maximum of 24",
    ),
    (
        "panel sticking out on the right",
        "parkwatch-overview",
        lambda d: _panel(d, "Active alerts by site")["gridPos"].update(x=20),
        "panels[8].gridPos: x 20 + w 8 is wider than the 24-column grid",
    ),
    (
        "overlapping panels",
        "parkwatch-drilldown",
        lambda d: _panel(d, "Latest value")["gridPos"].update(x=8),
        "panels[2].gridPos: overlaps panels[1]",
    ),
    (
        "two panels with one id",
        "parkwatch-alerts",
        lambda d: _panel(d, "Acknowledged").update(id=2),
        "panels[5].id: 2 is also the id of panels[1]",
    ),
    (
        "undefined variable",
        "parkwatch-drilldown",
        lambda d: _panel(d, "Latest value")["targets"][0].update(
            query='SELECT last("value") FROM "reading" WHERE $timeFilter AND "plant" =~ /^$plant$/'
        ),
        "panels[2].targets[0].query: uses $plant, which is neither a dashboard variable nor built in",
    ),
    (
        "unbounded query",
        "parkwatch-pipeline",
        lambda d: _panel(d, "Consumer lag")["targets"][0].update(query='SELECT max("lag") FROM "pipeline"'),
        "panels[9].targets[0].query: a SELECT must be bounded by $timeFilter",
    ),
    (
        "fixed time bucket",
        "parkwatch-pipeline",
        lambda d: _panel(d, "Consumer lag")["targets"][0].update(
            query='SELECT max("lag") FROM "pipeline" WHERE $timeFilter GROUP BY time(10s)'
        ),
        "panels[9].targets[0].query: GROUP BY time(10s); use time($__interval) so it follows the range",
    ),
    (
        "InfluxQL that InfluxDB 3 lacks",
        "parkwatch-pipeline",
        lambda d: _panel(d, "Consumer lag")["targets"][0].update(
            query='SELECT max("lag") FROM "pipeline" WHERE $timeFilter GROUP BY "instance" SLIMIT 5'
        ),
        "panels[9].targets[0].query: SLIMIT is not supported by InfluxDB 3's InfluxQL",
    ),
    (
        "query not raw InfluxQL",
        "parkwatch-alerts",
        lambda d: _panel(d, "Alert events")["targets"][0].update(rawQuery=False),
        "panels[12].targets[0].rawQuery: True was expected",
    ),
    (
        "threshold steps not starting at minus infinity",
        "parkwatch-alerts",
        lambda d: _steps(d, "Active info")[0].update(value=0),
        "panels[3].fieldConfig.defaults.thresholds.steps[0].value: 0 is not of type 'null'",
    ),
    (
        "query variable without datasource",
        "parkwatch-overview",
        lambda d: d["templating"]["list"][1].pop("datasource"),
        "templating.list[1]: 'datasource' is a required property",
    ),
    (
        "uid too long for Grafana",
        "parkwatch-overview",
        lambda d: d.update(uid="parkwatch-" + "x" * 40),
        "uid: 'parkwatch-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' does not match '^[A-Za-z0-9_-]{1,40}$'",
    ),
]


@pytest.mark.parametrize(("board", "mutate", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_schema_reports_the_mistake_with_its_path(board: str, mutate: Mutation, problem: str) -> None:
    doc = copy.deepcopy(DOCS[board])
    mutate(doc)
    assert problem in validate_dashboard(doc)
