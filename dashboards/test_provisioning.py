"""The Grafana provisioning files fit together and with the dashboards.

Checked here without Grafana or InfluxDB: each file's structure (the keys
Grafana's file provisioning reads), that every reference resolves (datasource
uid, dashboard uid and panel id, contact point name, refIds of alert
expressions) and that every environment variable is documented. The alert
rules' queries run against a real InfluxDB in tests/test_dashboards_queries.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from dashboards.render import JSON_DIR, render_all
from dashboards.target import DATASOURCE_UID

PROVISIONING = Path(__file__).parent / "provisioning"
README = Path(__file__).parent / "README.md"
FILES = sorted(PROVISIONING.rglob("*.yaml"))


def _load(relative: str) -> Any:
    return yaml.safe_load((PROVISIONING / relative).read_text())


def test_every_file_is_yaml_for_provisioning_version_1() -> None:
    assert [f.relative_to(PROVISIONING).as_posix() for f in FILES] == [
        "alerting/contact-points.yaml",
        "alerting/rules.yaml",
        "dashboards/parkwatch.yaml",
        "datasources/parkwatch.yaml",
    ]
    for path in FILES:
        assert yaml.safe_load(path.read_text())["apiVersion"] == 1, path


def test_every_environment_variable_is_documented() -> None:
    values = " ".join(_values(yaml.safe_load(path.read_text())) for path in FILES)
    used = set(re.findall(r"\$\{(\w+)\}", values))
    assert used == {
        "PARKWATCH_INFLUX_URL",
        "PARKWATCH_INFLUX_DB",
        "PARKWATCH_INFLUX_TOKEN",
        "PARKWATCH_DASHBOARDS_DIR",
        "PARKWATCH_ALERT_WEBHOOK_URL",
    }
    readme = README.read_text()
    assert all(f"`{name}`" in readme for name in used)


def _values(node: Any) -> str:
    """Every string value in a parsed file (Grafana interpolates values, not comments)."""
    if isinstance(node, dict):
        return " ".join(_values(v) for v in node.values())
    if isinstance(node, list):
        return " ".join(_values(v) for v in node)
    return node if isinstance(node, str) else ""


DATASOURCES = {
    "type": "object",
    "required": ["apiVersion", "datasources"],
    "properties": {
        "datasources": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "uid", "type", "access", "url", "jsonData"],
                "properties": {
                    "type": {"const": "influxdb"},
                    "access": {"const": "proxy"},
                    "jsonData": {
                        "type": "object",
                        "required": ["version", "dbName", "httpMode"],
                        "properties": {
                            "version": {"const": "InfluxQL"},
                            "httpMode": {"enum": ["GET", "POST"]},
                        },
                    },
                },
            },
        }
    },
}


def test_the_datasource_is_the_one_the_dashboards_and_rules_name() -> None:
    doc = _load("datasources/parkwatch.yaml")
    jsonschema.validate(doc, DATASOURCES)
    (source,) = doc["datasources"]
    assert source["uid"] == DATASOURCE_UID
    for uid, board in render_all().items():
        (variable,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
        assert variable["current"]["value"] == DATASOURCE_UID, uid


def test_the_dashboard_provider_reads_the_built_json_into_the_push_folder() -> None:
    (provider,) = _load("dashboards/parkwatch.yaml")["providers"]
    assert provider["type"] == "file"
    assert provider["folderUid"] == "parkwatch"  # the folder `push` uses, so both end up together
    assert provider["options"]["path"] == "${PARKWATCH_DASHBOARDS_DIR}"
    assert provider["allowUiUpdates"] is False
    assert sorted(JSON_DIR.glob("*.json")), "dashboards/json is empty: run parkwatch dashboards build"


RULE = {
    "type": "object",
    "required": [
        *("uid", "title", "condition", "data", "noDataState", "execErrState", "for", "labels", "annotations"),
    ],
    "properties": {
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "noDataState": {"enum": ["Alerting", "NoData", "OK"]},
        "execErrState": {"enum": ["Alerting", "Error", "OK"]},
        "for": {"type": "string", "pattern": "^[0-9]+[smh]$"},
        "labels": {"type": "object", "required": ["severity"], "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "required": ["summary", "description"]},
        "data": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "required": ["refId", "datasourceUid", "model"],
                "properties": {
                    "datasourceUid": {"enum": [DATASOURCE_UID, "__expr__"]},
                    "relativeTimeRange": {
                        "type": "object",
                        "required": ["from", "to"],
                        "properties": {"from": {"type": "integer"}, "to": {"type": "integer"}},
                    },
                },
            },
        },
    },
}


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _load("alerting/rules.yaml")["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("rule", _rules(), ids=[r["uid"] for r in _rules()])
def test_each_alert_rule_is_complete_and_its_references_resolve(rule: dict[str, Any]) -> None:
    jsonschema.validate(rule, RULE)
    steps = {step["refId"]: step for step in rule["data"]}
    assert rule["condition"] in steps
    for ref_id, step in steps.items():
        model = step["model"]
        assert model["refId"] == ref_id
        if step["datasourceUid"] == DATASOURCE_UID:
            assert model["rawQuery"] is True
            assert "$timeFilter" in model["query"]
            assert "relativeTimeRange" in step
        else:
            assert model["type"] in ("reduce", "threshold", "math")
            assert model["expression"] in steps
    # Grafana interpolates labels (not annotations or queries): a "$" there would be eaten.
    assert "$" not in "".join(rule["labels"].values())
    boards = render_all()
    if "dashboardUid" in rule:
        assert rule["dashboardUid"] in boards
    if "panelId" in rule:
        ids = {p["id"] for p in boards[rule["dashboardUid"]]["panels"]}
        assert rule["panelId"] in ids


def test_rules_live_in_the_dashboards_folder_and_have_unique_uids() -> None:
    groups = _load("alerting/rules.yaml")["groups"]
    assert {group["folder"] for group in groups} == {"parkwatch"}
    uids = [rule["uid"] for rule in _rules()]
    assert len(uids) == len(set(uids))


def test_every_notification_goes_to_the_provisioned_webhook() -> None:
    doc = _load("alerting/contact-points.yaml")
    (contact,) = doc["contactPoints"]
    (receiver,) = contact["receivers"]
    assert receiver["type"] == "webhook"
    assert receiver["settings"]["url"] == "${PARKWATCH_ALERT_WEBHOOK_URL}"
    (policy,) = doc["policies"]
    assert policy["receiver"] == contact["name"]
