"""Every dashboard query and provisioned alert rule, run against the real InfluxDB.

A small park is written with ``/write`` in line protocol, as docs/wire.md
defines ``reading`` and ``alert`` and dashboards/README.md defines
``pipeline``: two sites with one gateway each (plus an ``east`` gateway that
went silent), gas, oxygen, temperature and pressure points, anomaly scores,
comm_loss readings, alerts in every state and severity, and pipeline counters.
Then every panel query and every variable query, with Grafana's placeholders
filled in the way Grafana fills them, must run and return data; the alert rules'
queries must too, and a tiny evaluator of their reduce/threshold steps must fire
for exactly the series the data was built to trip.

The data goes to a database of its own, so the other tests' counts are untouched.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dashboards.render import render_all
from dashboards.target import DATASOURCE_UID
from parkwatch.influxql import influxql
from parkwatch.settings import Settings

pytestmark = pytest.mark.services

PROVISIONING = Path(__file__).parent.parent / "dashboards" / "provisioning"
DATABASE = "parkwatch_dashboards_test"
STEP_S = 10
SPAN_S = 40 * 60

#: site -> gateway -> device -> point -> nominal value (None: a status point).
PARK = {
    "north": {
        "north-gw1": {
            "gas-01": {"ch4": 1.0, "h2s": 0.2},
            "mgas-01": {"o2": 20.9, "co": 1.0, "h2s": 0.2, "ch4": 0.5},
            "pt-01": {"temperature": 85.0, "pressure": 1.6},
        }
    },
    "south": {
        "south-gw1": {
            "gas-11": {"ch4": 0.8, "h2s": 0.1},
            "mgas-11": {"o2": 20.9, "co": 2.0},
            "pt-11": {"temperature": 84.0, "pressure": 1.5},
        }
    },
}
#: A gateway that delivered until 10 minutes ago.
SILENT = ("east", "east-gw1", "flow-21", "flow", 12.0)

#: (minutes ago, site, gateway, device, point, rule, severity, alert id, state, value)
ALERT_EVENTS = [
    (30, "north", "north-gw1", "gas-01", "ch4", "limit_high", "warning", "a5", "open", 27.0),
    (25, "north", "north-gw1", "gas-01", "ch4", "limit_high", "warning", "a5", "resolved", 3.0),
    (20, "north", "north-gw1", "gas-01", "ch4", "anomaly_score", "critical", "a1", "open", 62.0),
    (24, "north", "north-gw1", "gas-01", "h2s", "limit_high", "critical", "a2", "open", 21.0),
    (15, "north", "north-gw1", "gas-01", "h2s", "limit_high", "critical", "a2", "acknowledged", 21.0),
    (10, "north", "north-gw1", "pt-01", "temperature", "anomaly_score", "warning", "a3", "open", 99.0),
    (8, "north", "north-gw1", "mgas-01", "o2", "limit_low", "info", "a4", "open", 19.8),
    (12, "south", "south-gw1", "pt-11", "pressure", "anomaly_score", "warning", "a6", "open", 2.1),
    (5, "south", "south-gw1", "pt-11", "pressure", "anomaly_score", "warning", "a6", "resolved", 1.5),
    (6, "south", "south-gw1", "gas-11", "ch4", "limit_high", "critical", "a7", "open", 30.0),
    (3, "south", "south-gw1", "mgas-11", "o2", "anomaly_score", "info", "a8", "open", 20.1),
    (2, "south", "south-gw1", "mgas-11", "o2", "anomaly_score", "info", "a8", "shelved", 20.1),
]

#: Grafana's values for its own placeholders, in the test.
INTERVAL = "1m"
INTERVAL_MS = "60000"
DEFAULT_RANGE = "1h"
#: Variable values as Grafana writes them into /^...$/: All, several, one.
SELECTIONS = {
    "all": dict.fromkeys(("site", "gateway", "device", "point", "severity", "component"), ".*"),
    "several": {
        "site": "(north|south)",
        "gateway": "(north\\-gw1|south\\-gw1)",
        "device": "(gas\\-01|gas\\-11)",
        "point": "(ch4|h2s)",
        "severity": "(critical|warning)",
        "component": "(edge|bridge|processor)",
    },
    "one": {
        "site": "north",
        "gateway": "north\\-gw1",
        "device": "gas\\-01",
        "point": "ch4",
        "severity": "critical",
        "component": "(edge|bridge|processor)",  # each pipeline field comes from one component only
    },
}


def _line(measurement: str, tags: dict[str, str], fields: dict[str, Any], ts_ms: int) -> str:
    tag_text = ",".join(f"{k}={v}" for k, v in tags.items())

    def field_value(value: Any) -> str:
        if isinstance(value, str):
            return '"' + value.replace('"', '\\"') + '"'
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return f"{value}i"
        return repr(float(value))

    field_text = ",".join(f"{k}={field_value(v)}" for k, v in fields.items())
    return f"{measurement},{tag_text} {field_text} {ts_ms}"


def _readings(now_ms: int) -> Iterator[str]:
    start = now_ms - SPAN_S * 1000
    for site, gateways in PARK.items():
        for gateway, devices in gateways.items():
            for device, points in devices.items():
                for point, nominal in points.items():
                    for i, ts in enumerate(range(start, now_ms, STEP_S * 1000)):
                        minutes_ago = (now_ms - ts) / 60_000
                        tags = {"site": site, "gateway": gateway, "device": device, "point": point}
                        if (device, point) in (("gas-01", "ch4"), ("pt-11", "temperature")) and i % 37 == 5:
                            yield _line("reading", tags, {"quality": "comm_loss"}, ts)
                            continue
                        value = nominal * (1 + 0.02 * math.sin(i / 5))
                        # In the last two minutes gas-01 reaches the second-level alarm, mgas-11 loses oxygen.
                        if minutes_ago < 2 and (device, point) == ("gas-01", "ch4"):
                            value = 62.0
                        if minutes_ago < 2 and (device, point) == ("mgas-11", "o2"):
                            value = 19.0
                        fields: dict[str, Any] = {"value": value, "quality": "good"}
                        if point in ("ch4", "temperature", "pressure"):
                            fields["score"] = 0.995 if value == 62.0 else 0.01 * (i % 20)
                        yield _line("reading", tags, fields, ts)
    site, gateway, device, point, value = SILENT
    for ts in range(start, now_ms - 10 * 60_000, STEP_S * 1000):
        tags = {"site": site, "gateway": gateway, "device": device, "point": point}
        yield _line("reading", tags, {"value": value, "quality": "good"}, ts)


def _alerts(now_ms: int) -> Iterator[str]:
    for minutes, site, gateway, device, point, rule, severity, ident, state, value in ALERT_EVENTS:
        tags = {
            "site": site,
            "gateway": gateway,
            "device": device,
            "point": point,
            "rule": rule,
            "severity": severity,
        }
        fields = {"id": ident, "state": state, "message": f"{point} = {value}", "value": value, "score": 0.99}
        yield _line("alert", tags, fields, now_ms - minutes * 60_000)


def _pipeline(now_ms: int) -> Iterator[str]:
    """Counters every 10 s: bridge dead-letters one frame a minute and sees a gap every 5 minutes,
    worker-2 never catches up, south-gw1's outbox is stuck above 100."""
    start = now_ms - SPAN_S * 1000
    for i, ts in enumerate(range(start, now_ms, STEP_S * 1000)):
        for gateway in ("north-gw1", "south-gw1"):
            depth = 150 + i % 7 if gateway == "south-gw1" else i % 4
            fields = {"readings_in": 70 * i, "outbox_depth": depth}
            yield _line("pipeline", {"component": "edge", "instance": gateway}, fields, ts)
        bridge = {"readings_in": 140 * i, "deadletter": i // 6, "gaps": i // 30}
        yield _line("pipeline", {"component": "bridge", "instance": "bridge-1"}, bridge, ts)
        for worker, lag in (("worker-1", 100 + (i % 10) * 50), ("worker-2", 20_000 + i)):
            fields = {"readings_in": 70 * i, "lag": lag}
            yield _line("pipeline", {"component": "processor", "instance": worker}, fields, ts)


@pytest.fixture(scope="module")
def park_db(stack: Settings) -> Settings:
    """The stack's InfluxDB with the demo park written into a database of its own."""
    settings = stack.model_copy(update={"influx_db": DATABASE})
    influxql(settings, f'DROP DATABASE "{DATABASE}"', method="POST")
    influxql(settings, f'CREATE DATABASE "{DATABASE}"', method="POST")
    now_ms = int(time.time() * 1000)
    lines = [*_readings(now_ms), *_alerts(now_ms), *_pipeline(now_ms)]
    resp = httpx.post(
        f"{settings.influx_url}/write",
        params={"db": DATABASE, "precision": "ms"},
        content="\n".join(lines).encode(),
        timeout=30,
    )
    assert resp.status_code == 204, resp.text
    return settings


def _fill(query: str, selection: dict[str, str], *, time_filter: str) -> str:
    """The query as Grafana sends it: built-in placeholders first, then the variables."""
    filled = query.replace("$timeFilter", time_filter)
    filled = filled.replace("$__interval_ms", INTERVAL_MS).replace("$__interval", INTERVAL)
    for name in sorted(selection, key=len, reverse=True):
        filled = filled.replace(f"${name}", selection[name])
    assert not re.search(r"\$(\w|\{)", filled), f"placeholder left in {filled}"
    return filled


def _panel_queries() -> list[tuple[str, str, str, str]]:
    """(test id, panel title, query, time filter) for every panel target and query variable."""
    found = []
    for uid, doc in render_all().items():
        for variable in doc["templating"]["list"]:
            if variable["type"] == "query":
                found.append((f"{uid}:${variable['name']}", variable["name"], variable["query"], ""))
        for panel in doc["panels"]:
            for target in panel.get("targets", []):
                window = panel.get("timeFrom", DEFAULT_RANGE)
                test_id = f"{uid}:{panel['id']}{target['refId']}"
                found.append((test_id, panel["title"], target["query"], f"time > now() - {window}"))
    return found


PANEL_QUERIES = _panel_queries()


@pytest.mark.parametrize("selection", sorted(SELECTIONS))
@pytest.mark.parametrize(
    ("title", "query", "time_filter"), [q[1:] for q in PANEL_QUERIES], ids=[q[0] for q in PANEL_QUERIES]
)
def test_every_panel_query_returns_data(
    park_db: Settings, title: str, query: str, time_filter: str, selection: str
) -> None:
    filled = _fill(query, SELECTIONS[selection], time_filter=time_filter or "time > now() - 1h")
    series = influxql(park_db, filled)
    rows = [row for s in series for row in s["values"] if any(v is not None for v in row[1:])]
    assert rows, f"{title!r} returned no data for {selection} values:\n{filled}"


def test_the_queries_cover_every_board() -> None:
    boards = {test_id.split(":")[0] for test_id, *_ in PANEL_QUERIES}
    assert boards == set(render_all())
    assert len(PANEL_QUERIES) > 50


def test_silent_gateways_show_as_zero_not_as_missing(park_db: Settings) -> None:
    """The data-flow panels keep a gateway that stopped, with 0 where it is silent."""
    doc = render_all()["parkwatch-overview"]
    (panel,) = [p for p in doc["panels"] if p["title"] == "Gateways: readings per second"]
    filled = _fill(panel["targets"][0]["query"], SELECTIONS["all"], time_filter="time > now() - 1h")
    by_gateway = {s["tags"]["gateway"]: [v for _, v in s["values"]] for s in influxql(park_db, filled)}
    assert set(by_gateway) == {"north-gw1", "south-gw1", "east-gw1"}
    assert by_gateway["east-gw1"][-5:] == [0, 0, 0, 0, 0]
    points = sum(len(points) for points in PARK["north"]["north-gw1"].values())
    assert by_gateway["north-gw1"][-2] == pytest.approx(points / STEP_S)  # a complete bucket


def test_active_alert_counts_follow_the_newest_event(park_db: Settings) -> None:
    doc = render_all()["parkwatch-alerts"]
    counts = {}
    for panel in doc["panels"]:
        if panel["type"] == "stat" and panel["title"] != "Raised in range":
            filled = _fill(panel["targets"][0]["query"], SELECTIONS["all"], time_filter="time > now() - 7d")
            series = influxql(park_db, filled)
            counts[panel["title"]] = series[0]["values"][0][1] if series else 0
    # a1, a7 critical open; a2 critical acknowledged; a3 warning open (a5, a6 resolved);
    # a4 info open (a8 shelved: not active).
    assert counts == {
        "Active critical": 3,
        "Active warning": 1,
        "Active info": 1,
        "Unacknowledged": 4,
        "Acknowledged": 1,
    }


# --- provisioning: the datasource as Grafana would use it, and the alert rules ------------------


def _expand(node: Any, env: dict[str, str]) -> Any:
    """Grafana's provisioning interpolation, applied to the parsed values as Grafana does:
    ${VAR} and $VAR from the environment, $$ for a literal $."""
    if isinstance(node, dict):
        return {key: _expand(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand(value, env) for value in node]
    if not isinstance(node, str):
        return node

    def value(match: re.Match[str]) -> str:
        return "$" if match.group(0) == "$$" else env[match.group(1) or match.group(2)]

    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", value, node)


def test_the_provisioned_datasource_queries_influxdb_1x(park_db: Settings) -> None:
    env = {
        "PARKWATCH_INFLUX_URL": park_db.influx_url,
        "PARKWATCH_INFLUX_DB": DATABASE,
        "PARKWATCH_INFLUX_TOKEN": os.environ.get("PARKWATCH_INFLUX_TOKEN", ""),
    }
    doc = _expand(yaml.safe_load((PROVISIONING / "datasources" / "parkwatch.yaml").read_text()), env)
    (source,) = doc["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["jsonData"]["httpMode"] == "GET"
    count = 'SELECT count("quality") FROM "reading"'
    query = urllib.parse.urlencode({"db": source["jsonData"]["dbName"], "q": count})
    request = urllib.request.Request(f"{source['url']}/query?{query}")
    # Exactly the header Grafana sends; with no token that is "Token " (h11, under httpx, refuses it).
    request.add_header(source["jsonData"]["httpHeaderName1"], source["secureJsonData"]["httpHeaderValue1"])
    with urllib.request.urlopen(request, timeout=10) as resp:
        answer = json.load(resp)
    assert answer["results"][0]["series"][0]["values"][0][1] > 1000


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROVISIONING / "alerting" / "rules.yaml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _evaluate(rule: dict[str, Any], park_db: Settings) -> set[tuple[str, ...]]:
    """Series for which the rule's condition holds: Grafana's reduce(last, dropNN) and threshold."""
    steps = {step["refId"]: step for step in rule["data"]}
    query_step = steps["A"]
    window = query_step["relativeTimeRange"]
    time_filter = f"time > now() - {window['from']}s AND time < now() - {window['to']}s"
    series = influxql(park_db, _fill(query_step["model"]["query"], {}, time_filter=time_filter))
    assert steps["B"]["model"] == {
        "refId": "B",
        "type": "reduce",
        "expression": "A",
        "reducer": "last",
        "settings": {"mode": "dropNN"},
    }
    (condition,) = steps["C"]["model"]["conditions"]
    kind, (limit,) = condition["evaluator"]["type"], condition["evaluator"]["params"]
    firing = set()
    for s in series:
        values = [row[1] for row in s["values"] if row[1] is not None]
        if values and (values[-1] > limit if kind == "gt" else values[-1] < limit):
            firing.add(tuple(s.get("tags", {}).values()))
    if not series and rule["noDataState"] == "Alerting":
        firing.add(("no data",))
    return firing


EXPECTED_FIRING = {
    "parkwatch-no-readings": set(),
    "parkwatch-gateway-silent": {("east-gw1", "east")},
    "parkwatch-consumer-lag": {("processor", "worker-2")},
    "parkwatch-outbox-backlog": {("south-gw1",)},
    "parkwatch-deadletter": {("bridge", "bridge-1")},
    "parkwatch-frame-gaps": {("bridge", "bridge-1")},
    "parkwatch-ch4-second-level": {("gas-01", "north-gw1", "north")},
    "parkwatch-o2-low": {("mgas-11", "south-gw1", "south")},
}


@pytest.mark.parametrize("rule", _rules(), ids=[rule["uid"] for rule in _rules()])
def test_alert_rule_queries_run_and_fire_for_the_right_series(
    park_db: Settings, rule: dict[str, Any]
) -> None:
    steps = {step["refId"]: step for step in rule["data"]}
    window = steps["A"]["relativeTimeRange"]
    time_filter = f"time > now() - {window['from']}s AND time < now() - {window['to']}s"
    assert influxql(park_db, _fill(steps["A"]["model"]["query"], {}, time_filter=time_filter)), "no data"
    assert _evaluate(rule, park_db) == EXPECTED_FIRING[rule["uid"]]


def test_every_rule_has_an_expectation() -> None:
    assert {rule["uid"] for rule in _rules()} == set(EXPECTED_FIRING)
