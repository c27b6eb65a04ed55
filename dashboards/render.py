"""From builders to the JSON Grafana stores: render, validate, write.

:func:`render_all` is the single place dashboards become JSON, so the files in
``dashboards/json/``, what ``push`` sends and what the tests check are the same
documents. Panels are numbered 1, 2, ... in layout order; the documents carry
no ``id`` or ``version`` (those belong to each Grafana instance).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.boards import BOARDS
from dashboards.errors import InvalidDashboardError
from dashboards.schema import validate_dashboard

__all__ = ["JSON_DIR", "dumps", "render", "render_all", "write_json"]

#: Where the generated JSON is checked in; Grafana's file provider reads it from here.
JSON_DIR = Path(__file__).parent / "json"


def render(builder: Dashboard) -> dict[str, Any]:
    """The dashboard as a JSON-compatible dict, panels numbered; raises if it is invalid."""
    doc: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    number = 0
    for panel in doc.get("panels", []):
        number += 1
        panel["id"] = number
        for inner in panel.get("panels", []):
            number += 1
            inner["id"] = number
    problems = validate_dashboard(doc)
    if problems:
        raise InvalidDashboardError(doc.get("uid", "?"), problems)
    return doc


def render_all() -> dict[str, dict[str, Any]]:
    """Every board, by uid, in display order."""
    return {uid: render(build()) for uid, build in BOARDS.items()}


def dumps(doc: dict[str, Any]) -> str:
    """The canonical text of a dashboard file: sorted keys, two-space indent, final newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(out_dir: Path = JSON_DIR) -> list[Path]:
    """Write ``<uid>.json`` for every board into ``out_dir``; returns the paths written.

    Files of boards that no longer exist are left alone: deleting a dashboard
    is a decision for a person, not a side effect of a build.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, doc in render_all().items():
        path = out_dir / f"{uid}.json"
        path.write_text(dumps(doc), encoding="utf-8")
        written.append(path)
    return written
