"""What a parkwatch dashboard must look like before it is written or pushed.

Two layers, both run by ``parkwatch dashboards build`` and by the tests:

1. :data:`DASHBOARD_SCHEMA`, a JSON Schema (draft 2020-12) of Grafana's
   dashboard JSON model (schema version 36 and later), written down from
   Grafana's documented model ("JSON model" in the dashboards reference, and the
   dashboard kind that grafana-foundation-sdk is generated from). It is
   stricter than Grafana where that catches our mistakes: unknown keys are
   refused on the dashboard, panels, grid positions and variables (a typo like
   ``timefrom`` would otherwise be silently ignored by Grafana), every panel
   but a row needs an id, a datasource and at least one InfluxQL target.
2. :func:`lint_dashboard`, rules a schema cannot say: panels inside the
   24-column grid without overlapping, unique panel ids, titles and refIds,
   every ``$variable`` defined, every ``SELECT`` bounded by ``$timeFilter``,
   time buckets from ``$__interval`` only, and no InfluxQL that InfluxDB 3
   does not answer.

:func:`validate_dashboard` runs both and returns the problems, each prefixed
with its JSON path, for example ``panels[3].gridPos.w: 30 is greater than the
maximum of 24``.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema

__all__ = ["DASHBOARD_SCHEMA", "BUILTIN_VARIABLES", "lint_dashboard", "validate_dashboard"]

_REF = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "uid"],
    "properties": {"type": {"type": "string"}, "uid": {"type": "string", "minLength": 1}},
}

_GRID_POS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
        "static": {"type": "boolean"},
    },
}

_THRESHOLDS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["mode", "steps"],
    "properties": {
        "mode": {"enum": ["absolute", "percentage"]},
        "steps": {
            "type": "array",
            "minItems": 1,
            "prefixItems": [{"type": "object", "properties": {"value": {"type": "null"}}}],
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["value", "color"],
                "properties": {"value": {"type": ["number", "null"]}, "color": {"type": "string"}},
            },
        },
    },
}

_DATA_LINK = {
    "type": "object",
    "required": ["title", "url"],
    "properties": {"title": {"type": "string"}, "url": {"type": "string", "minLength": 1}},
}

_FIELD_CONFIG = {
    "type": "object",
    "additionalProperties": False,
    "required": ["defaults", "overrides"],
    "properties": {
        "defaults": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "displayName": {"type": "string"},
                "unit": {"type": "string"},
                "decimals": {"type": "number"},
                "min": {"type": "number"},
                "max": {"type": "number"},
                "noValue": {"type": "string"},
                "thresholds": _THRESHOLDS,
                "color": {"type": "object", "required": ["mode"]},
                "mappings": {"type": "array"},
                "links": {"type": "array", "items": _DATA_LINK},
                "custom": {"type": "object"},
            },
        },
        "overrides": {"type": "array"},
    },
}

_TARGET = {
    "type": "object",
    "additionalProperties": False,
    "required": ["refId", "query", "rawQuery", "resultFormat"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "datasource": _REF,
        "query": {"type": "string", "minLength": 1},
        "rawQuery": {"const": True},
        "resultFormat": {"enum": ["time_series", "table", "logs"]},
        "alias": {"type": "string"},
        "hide": {"type": "boolean"},
    },
}

_PANEL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "type", "title", "gridPos", "datasource", "targets"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["stat", "timeseries", "table", "bargauge", "state-timeline", "gauge", "text"]},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "transparent": {"type": "boolean"},
        "datasource": _REF,
        "gridPos": _GRID_POS,
        "targets": {"type": "array", "minItems": 1, "items": _TARGET},
        "fieldConfig": _FIELD_CONFIG,
        "options": {"type": "object"},
        "links": {"type": "array"},
        "repeat": {"type": "string"},
        "repeatDirection": {"enum": ["h", "v"]},
        "maxPerRow": {"type": "number"},
        "maxDataPoints": {"type": "number"},
        "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h|d)$"},
        "timeFrom": {"type": "string", "pattern": "^[0-9]+(s|m|h|d|w)$"},
        "timeShift": {"type": "string"},
        "hideTimeOverride": {"type": "boolean"},
        "transformations": {"type": "array"},
        "pluginVersion": {"type": "string"},
        "cacheTimeout": {"type": "string"},
        "queryCachingTTL": {"type": "number"},
    },
}

_ROW = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "type", "title", "gridPos", "collapsed", "panels"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"const": "row"},
        "title": {"type": "string", "minLength": 1},
        "collapsed": {"type": "boolean"},
        "gridPos": _GRID_POS,
        "panels": {"type": "array", "items": _PANEL},
        "datasource": _REF,
        "repeat": {"type": "string"},
    },
}

_OPTION = {
    "type": "object",
    "required": ["text", "value"],
    "properties": {
        "selected": {"type": "boolean"},
        "text": {"type": ["string", "array"], "items": {"type": "string"}},
        "value": {"type": ["string", "array"], "items": {"type": "string"}},
    },
}

_VARIABLE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "name"],
    "properties": {
        "type": {
            "enum": ["query", "adhoc", "constant", "datasource", "interval", "textbox", "custom", "groupby"]
        },
        "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "label": {"type": "string"},
        "description": {"type": "string"},
        "hide": {"enum": [0, 1, 2]},
        "skipUrlSync": {"type": "boolean"},
        "query": {"type": ["string", "object"]},
        "datasource": _REF,
        "current": _OPTION,
        "options": {"type": "array", "items": _OPTION},
        "multi": {"type": "boolean"},
        "includeAll": {"type": "boolean"},
        "allValue": {"type": "string"},
        "allowCustomValue": {"type": "boolean"},
        "refresh": {"enum": [0, 1, 2]},
        "sort": {"enum": [0, 1, 2, 3, 4, 5, 6, 7, 8]},
        "regex": {"type": "string"},
        "auto": {"type": "boolean"},
        "auto_min": {"type": "string"},
        "auto_count": {"type": "integer"},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "query"}}},
            "then": {"required": ["query", "datasource", "refresh"]},
        }
    ],
}

_DASHBOARD_LINK = {
    "type": "object",
    "required": ["title", "type"],
    "properties": {
        "title": {"type": "string"},
        "type": {"enum": ["link", "dashboards"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "url": {"type": "string"},
    },
}

#: JSON Schema of a parkwatch dashboard (Grafana's model, stricter where noted above).
DASHBOARD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Grafana dashboard (parkwatch subset)",
    "type": "object",
    "additionalProperties": False,
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "annotations", "tags", "time"],
    "properties": {
        "id": {"type": ["integer", "null"]},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "timezone": {"type": "string"},
        "editable": {"type": "boolean"},
        "graphTooltip": {"enum": [0, 1, 2]},
        "time": {
            "type": "object",
            "additionalProperties": False,
            "required": ["from", "to"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        },
        "timepicker": {"type": "object"},
        "fiscalYearStartMonth": {"type": "integer", "minimum": 0, "maximum": 11},
        "liveNow": {"type": "boolean"},
        "weekStart": {"type": "string"},
        "refresh": {"type": "string", "pattern": "^([0-9]+(s|m|h|d))?$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "version": {"type": "integer"},
        "revision": {"type": "integer"},
        "panels": {
            "type": "array",
            "items": {"if": {"properties": {"type": {"const": "row"}}}, "then": _ROW, "else": _PANEL},
        },
        "templating": {
            "type": "object",
            "additionalProperties": False,
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": _VARIABLE}},
        },
        "annotations": {"type": "object", "properties": {"list": {"type": "array"}}},
        "links": {"type": "array", "items": _DASHBOARD_LINK},
    },
}

#: Variables Grafana provides itself (``$timeFilter`` is the InfluxDB datasource's).
BUILTIN_VARIABLES = frozenset(
    {"timeFilter", "__timeFilter", "__interval", "__interval_ms", "__from", "__to", "__range", "__range_s"}
)

_VARIABLE_USE = re.compile(r"\$(?:\{(\w+)(?:[:.][^}]*)?\}|(\w+))")
#: InfluxQL that InfluxDB 3 does not answer (its "InfluxQL feature support" page).
_NOT_IN_V3 = re.compile(
    r"\b(SLIMIT|SOFFSET|INTO|CARDINALITY|SHOW\s+SERIES|SHOW\s+DATABASES|INTEGRAL|SAMPLE|HOLT_WINTERS\w*|"
    r"CHANDE_MOMENTUM_OSCILLATOR|\w*EXPONENTIAL_MOVING_AVERAGE|KAUFMANS_\w+|RELATIVE_STRENGTH_INDEX|"
    r"TRIPLE_EXPONENTIAL_DERIVATIVE)\b",
    re.IGNORECASE,
)
_GROUP_BY_TIME = re.compile(r"GROUP BY time\(([^)]*)\)", re.IGNORECASE)


def _panels(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for i, panel in enumerate(doc.get("panels", [])):
        found.append((f"panels[{i}]", panel))
        for j, inner in enumerate(panel.get("panels", []) if panel.get("type") == "row" else []):
            found.append((f"panels[{i}].panels[{j}]", inner))
    return found


def _lint_query(path: str, query: str, variables: set[str]) -> list[str]:
    problems = []
    for braced, plain in _VARIABLE_USE.findall(query):
        name = braced or plain
        if name not in variables and name not in BUILTIN_VARIABLES:
            problems.append(f"{path}: uses ${name}, which is neither a dashboard variable nor built in")
    if query.lstrip().upper().startswith("SELECT") and "$timeFilter" not in query:
        problems.append(f"{path}: a SELECT must be bounded by $timeFilter")
    for interval in _GROUP_BY_TIME.findall(query):
        if interval != "$__interval":
            problems.append(
                f"{path}: GROUP BY time({interval}); use time($__interval) so it follows the range"
            )
    if match := _NOT_IN_V3.search(query):
        problems.append(f"{path}: {match.group(0)} is not supported by InfluxDB 3's InfluxQL")
    return problems


def lint_dashboard(doc: dict[str, Any]) -> list[str]:
    """Problems a JSON Schema cannot express; assumes the document passed the schema."""
    problems: list[str] = []
    variables = {v["name"] for v in doc["templating"]["list"]}
    for i, variable in enumerate(doc["templating"]["list"]):
        if isinstance(variable.get("query"), str) and variable["type"] == "query":
            problems += _lint_query(f"templating.list[{i}].query", variable["query"], variables)
    ids: dict[int, str] = {}
    titles: dict[str, str] = {}
    boxes: list[tuple[str, int, int, int, int]] = []
    for path, panel in _panels(doc):
        if panel["id"] in ids:
            problems.append(f"{path}.id: {panel['id']} is also the id of {ids[panel['id']]}")
        ids.setdefault(panel["id"], path)
        if panel["type"] != "row":
            if panel["title"] in titles:
                problems.append(
                    f"{path}.title: {panel['title']!r} is also the title of {titles[panel['title']]}"
                )
            titles.setdefault(panel["title"], path)
        pos = panel["gridPos"]
        if pos["x"] + pos["w"] > 24:
            problems.append(f"{path}.gridPos: x {pos['x']} + w {pos['w']} is wider than the 24-column grid")
        for other, x, y, w, h in boxes:
            if pos["x"] < x + w and x < pos["x"] + pos["w"] and pos["y"] < y + h and y < pos["y"] + pos["h"]:
                problems.append(f"{path}.gridPos: overlaps {other}")
        boxes.append((path, pos["x"], pos["y"], pos["w"], pos["h"]))
        problems += _lint_query(
            f"{path}.datasource.uid", panel.get("datasource", {}).get("uid", ""), variables
        )
        ref_ids: set[str] = set()
        for j, target in enumerate(panel.get("targets", [])):
            if target["refId"] in ref_ids:
                problems.append(f"{path}.targets[{j}].refId: {target['refId']} repeats")
            ref_ids.add(target["refId"])
            problems += _lint_query(f"{path}.targets[{j}].query", target["query"], variables)
    return problems


def validate_dashboard(doc: dict[str, Any]) -> list[str]:
    """Every problem with ``doc``: schema violations first, then lint; empty when valid.

    >>> validate_dashboard({"uid": "x", "title": "X"})[0]
    "(root): 'schemaVersion' is a required property"
    """
    validator = jsonschema.Draft202012Validator(DASHBOARD_SCHEMA)
    problems = [
        f"{error.json_path.removeprefix('$.') if error.path else '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]
    if problems:
        return problems
    return lint_dashboard(doc)
