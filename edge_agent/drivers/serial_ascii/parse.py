"""One line of sensor text to readings, by a regular expression with named groups.

>>> from edge_agent.drivers.serial_ascii.config import AsciiPoint
>>> parser = LineParser(r"T=(?P<t>-?[0-9.]+)C RH=(?P<rh>[0-9.]+)%",
...                     [AsciiPoint(name="temp", group="t"), AsciiPoint(name="rh", scale=0.01)])
>>> [(r.point, r.value, r.quality) for r in parser.parse("T=21.5C RH=48.0%", ts_ms=1)]
[('temp', 21.5, 'good'), ('rh', 0.48, 'good')]
>>> parser.parse("#!?garbage", ts_ms=1) is None
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from edge_agent.drivers.serial_ascii.config import AsciiPoint
from parkwatch.wire.frames import Reading

__all__ = ["LineParser"]


class LineParser:
    """Matches lines against ``pattern`` and converts its groups per point."""

    def __init__(self, pattern: str, points: Sequence[AsciiPoint]) -> None:
        self.pattern = re.compile(pattern)
        self.points = list(points)

    def parse(self, line: str, ts_ms: int) -> list[Reading] | None:
        """Readings for every point, or ``None`` if the line does not match at all.

        A point whose group did not take part in the match, or is not a
        finite number, is reported ``bad`` while the others stay good.
        """
        match = self.pattern.search(line.strip())
        if match is None:
            return None
        out: list[Reading] = []
        for point in self.points:
            text = match.group(point.group_name)
            try:
                value = float(text) * point.scale + point.offset if text is not None else math.nan
            except ValueError:
                value = math.nan
            if math.isfinite(value):
                out.append(Reading(point.name, ts_ms, value, "good"))
            else:
                out.append(Reading(point.name, ts_ms, None, "bad"))
        return out
