"""What differs between the dashboard Grafana holds and the one we built.

``push`` compares before it writes: an identical dashboard is skipped (no new
version in Grafana's history), a different one is saved with a version message
that says what changed, in terms a reviewer recognises (panel titles, variable
names, dashboard settings) rather than a JSON diff.

>>> old = {"uid": "u", "title": "T", "refresh": "10s", "panels": [{"title": "A", "type": "stat"}]}
>>> new = {"uid": "u", "title": "T", "refresh": "30s", "panels": [{"title": "A", "type": "table"},
...                                                               {"title": "B", "type": "stat"}]}
>>> describe_changes(old, new)
['panels added: B', 'panels changed: A', 'settings changed: refresh']
>>> describe_changes({**new, "id": 7, "version": 3}, new)
[]
"""

from __future__ import annotations

from typing import Any

__all__ = ["INSTANCE_KEYS", "comparable", "describe_changes", "version_message"]

#: Keys each Grafana instance sets on its own copy; they never count as changes.
INSTANCE_KEYS = frozenset({"id", "version"})
#: Grafana keeps at most this many characters of a version message.
MESSAGE_LIMIT = 255


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """The dashboard without the instance's own keys."""
    return {key: value for key, value in doc.items() if key not in INSTANCE_KEYS}


def _panels(doc: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for panel in doc.get("panels", []):
        found[panel.get("title", "")] = {k: v for k, v in panel.items() if k != "panels"}
        for inner in panel.get("panels", []):
            found[inner.get("title", "")] = inner
    return found


def _variables(doc: dict[str, Any]) -> dict[str, Any]:
    return {v.get("name", ""): v for v in doc.get("templating", {}).get("list", [])}


def _keyed(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    changed = [name for name in new if name in old and old[name] != new[name]]
    for verb, names in (("added", added), ("removed", removed), ("changed", changed)):
        if names:
            lines.append(f"{kind} {verb}: {', '.join(names)}")
    return lines


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One line per kind of change from ``old`` to ``new``; empty when they are the same."""
    old, new = comparable(old), comparable(new)
    if old == new:
        return []
    lines = _keyed("panels", _panels(old), _panels(new))
    lines += _keyed("variables", _variables(old), _variables(new))
    settings = sorted(
        key
        for key in set(old) | set(new)
        if key not in ("panels", "templating") and old.get(key) != new.get(key)
    )
    if settings:
        lines.append(f"settings changed: {', '.join(settings)}")
    return lines or ["layout changed"]


def version_message(changes: list[str], prefix: str) -> str:
    """The message Grafana keeps with the new version, cut to what Grafana stores."""
    text = f"{prefix}: {'; '.join(changes)}" if changes else prefix
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"
