"""A small subset of JSONPath: dotted keys and list indexes, enough to find a value in a sensor payload.

>>> path = parse_path("$.data.values[1].t")
>>> path
('data', 'values', 1, 't')
>>> find({"data": {"values": [{"t": 1}, {"t": 21.5}]}}, path)
21.5
>>> find({"data": {}}, path) is MISSING
True
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["MISSING", "PathPart", "parse_path", "find"]

PathPart = str | int
#: What :func:`find` returns when the path is not in the document.
MISSING: Final = object()

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(text: str) -> tuple[PathPart, ...]:
    """``$.a.b[0]`` (or ``a.b[0]``) as ``("a", "b", 0)``; :class:`ValueError` if malformed."""
    body = text.removeprefix("$").removeprefix(".") if text.startswith("$") else text
    if not body:
        raise ValueError(f"empty path {text!r}")
    parts: list[PathPart] = []
    pos = 0
    while pos < len(body):
        if parts and body[pos] == ".":
            pos += 1
        match = _PART.match(body, pos)
        if match is None:
            raise ValueError(f"malformed path {text!r} at character {pos + len(text) - len(body) + 1}")
        key, index = match.groups()
        parts.append(int(index) if index is not None else key)
        pos = match.end()
    return tuple(parts)


def find(document: Any, path: tuple[PathPart, ...]) -> Any:
    """The value at ``path`` in ``document``, or :data:`MISSING`."""
    node = document
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return MISSING
        elif not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node
