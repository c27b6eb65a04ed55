"""Per-device processing state, the value type of the detector-state table.

One :class:`DeviceState` per device key (the ``readings`` record key), so it
lives in the same partition as the device's records. It is pickled into the
table's changelog after every record; keep it small and free of references to
anything outside itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parkwatch.wire.alerts import Severity
from stream_processor.detectors import DetectorBase
from stream_processor.rules.conditions import RuleState

__all__ = ["OpenAlert", "PointState", "DeviceState", "MinuteBucket"]


@dataclass(slots=True)
class OpenAlert:
    """The point's one open ``anomaly_score`` alert."""

    id: str
    started_ms: int
    severity: Severity
    #: Consecutive scored readings below the clear score so far.
    normal_streak: int = 0


@dataclass(slots=True)
class PointState:
    """A point's detector, the event time of its last scored reading, and its open alert."""

    detector: DetectorBase
    #: Readings at or before this time are stored but not scored again (replays, duplicates).
    last_scored_ms: int = -1
    alert: OpenAlert | None = None
    #: The last resolved alert and when it resolved: firing again soon reopens it.
    resolved: OpenAlert | None = None
    resolved_ms: int = -1
    #: Rule id -> that rule's state for this point (:mod:`stream_processor.rules`); None if no rule.
    rules: dict[str, RuleState] | None = None


@dataclass(slots=True)
class DeviceState:
    """Everything the processor remembers about one device, by point id."""

    points: dict[str, PointState] = field(default_factory=dict)
    #: The open 1-minute aggregate of each point (``stream_processor.sink.aggregates``).
    minutes: dict[str, MinuteBucket] = field(default_factory=dict)
    #: The ``readings`` partition the device's records arrive on (its owner sweeps it for stale rules).
    partition: int = -1


@dataclass(slots=True)
class MinuteBucket:
    """One point's good readings of the current minute, for the ``reading_1m`` measurement."""

    minute_ms: int
    count: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")
    #: The newest reading aggregated; older or equal ones (replays) are not added again.
    last_ms: int = -1
