"""``step: aggregate``: min/max/mean (and count, last) of each point over tumbling windows.

::

    - step: aggregate
      points: [flow]
      window: 10s             # windows aligned to the epoch: [0 s, 10 s), [10 s, 20 s), ...
      emit: [min, max, mean]  # any of min, max, mean, count, last
      raw: drop               # default drop: only the aggregates go on; keep: raw readings too
      grace: 2s               # default 2s: how long after its end a window waits for late readings

Each aggregate is a reading of its own, named ``<point>_<stat>`` (``flow_min``),
stamped with the window's *start* (event time). A window is closed by the
first reading of a later window, or at the frame tick once ``grace`` has
passed after its end (so a slow device still gets its window emitted), or at
shutdown. A reading for a window already closed is late: it is dropped.

Only ``good`` readings enter min/max/mean/last; a window without any good
reading emits those stats with value null and the quality of its last
reading (``comm_loss``, ``bad``), so a dead device never yields a plausible
aggregate. ``count`` is the number of good readings, always ``good``.

>>> from parkwatch.wire.frames import Reading
>>> step = WindowAggregate(AggregateConfig(step="aggregate", window="10s", emit=["min", "max", "mean"]))
>>> step.apply("d", [Reading("p", 1000, 1.0, "good")]) + step.apply("d", [Reading("p", 9000, 3.0, "good")])
[]
>>> [(r.point, r.ts_ms, r.value) for r in step.apply("d", [Reading("p", 10000, 5.0, "good")])]
[('p_min', 0, 1.0), ('p_max', 0, 3.0), ('p_mean', 0, 2.0)]
>>> [(d, [(r.point, r.value) for r in rs]) for d, rs in step.flush(None)]
[('d', [('p_min', 5.0), ('p_max', 5.0), ('p_mean', 5.0)])]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from edge_agent.preprocess.registry import StepBase, StepConfig, register
from parkwatch.durations import Duration
from parkwatch.wire.frames import Reading

__all__ = ["AggregateConfig", "Stat", "WindowAggregate"]

Stat = Literal["min", "max", "mean", "count", "last"]


class AggregateConfig(StepConfig):
    step: Literal["aggregate"]
    window_s: Duration = Field(alias="window", gt=0)
    emit: list[Stat] = Field(min_length=1)
    raw: Literal["drop", "keep"] = "drop"
    grace_s: Duration = Field(default=2.0, alias="grace", ge=0)

    @field_validator("emit")
    @classmethod
    def _unique(cls, emit: list[Stat]) -> list[Stat]:
        if len(set(emit)) != len(emit):
            raise ValueError("each statistic at most once")
        return emit


@dataclass(slots=True)
class _Window:
    start_ms: int
    good: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")
    last: float | None = None
    last_quality: str = "good"


@register("aggregate", AggregateConfig)
class WindowAggregate(StepBase):
    """Tumbling-window statistics per ``(device, point)``; see the module docstring."""

    def __init__(self, config: AggregateConfig) -> None:
        self.config = config
        self.window_ms = max(1, round(config.window_s * 1000))
        self.grace_ms = round(config.grace_s * 1000)
        self._open: dict[tuple[str, str], _Window] = {}
        #: Start of the last closed window per key: readings up to it are late.
        self._closed: dict[tuple[str, str], int] = {}
        #: Late readings dropped.
        self.late = 0

    def apply(self, device: str, readings: list[Reading]) -> list[Reading]:
        c = self.config
        out: list[Reading] = []
        for r in readings:
            if not c.selects(device, r.point):
                out.append(r)
                continue
            if c.raw == "keep":
                out.append(r)
            key = (device, r.point)
            start = r.ts_ms - r.ts_ms % self.window_ms
            if start <= self._closed.get(key, -1):
                self.late += 1
                continue
            window = self._open.get(key)
            if window is not None and start > window.start_ms:
                out.extend(self._close(key, window))
                window = None
            if window is None:
                window = self._open[key] = _Window(start)
            elif start < window.start_ms:  # older than the open window, newer than the closed one
                self.late += 1
                continue
            window.last_quality = r.quality
            if r.quality == "good" and r.value is not None:
                window.good += 1
                window.total += r.value
                window.low = min(window.low, r.value)
                window.high = max(window.high, r.value)
                window.last = r.value
        return out

    def flush(self, now_ms: int | None) -> list[tuple[str, list[Reading]]]:
        due: dict[str, list[Reading]] = {}
        for key, window in list(self._open.items()):
            if now_ms is None or window.start_ms + self.window_ms + self.grace_ms <= now_ms:
                due.setdefault(key[0], []).extend(self._close(key, window))
        return list(due.items())

    def _close(self, key: tuple[str, str], window: _Window) -> list[Reading]:
        del self._open[key]
        self._closed[key] = window.start_ms
        point, ts = key[1], window.start_ms
        out = []
        for stat in self.config.emit:
            name = f"{point}_{stat}"
            if stat == "count":
                out.append(Reading(name, ts, float(window.good), "good"))
            elif window.good == 0:
                out.append(Reading(name, ts, None, window.last_quality))
            elif stat == "min":
                out.append(Reading(name, ts, window.low, "good"))
            elif stat == "max":
                out.append(Reading(name, ts, window.high, "good"))
            elif stat == "mean":
                out.append(Reading(name, ts, window.total / window.good, "good"))
            else:
                out.append(Reading(name, ts, window.last, "good"))
        return out
