"""Anomalies the simulator injects, and the ground truth it records about them.

Four kinds, each on one point of one device, from ``at`` for ``duration``
(both simulation time, i.e. since the simulator started):

- ``spike``: ``+magnitude`` for a short time. By default +40 % of the
  point's range for 3 poll intervals (at least 3 ticks), so a poller at the
  configured interval sees it at least twice.
- ``level_shift``: ``+magnitude`` (default 20 % of range) for 60 s.
- ``drift``: a ramp from 0 to ``+magnitude`` (default 20 % of range) over
  120 s; the value snaps back when it ends.
- ``stuck``: the value freezes at what it was when the anomaly began, for 30 s.

Magnitudes are in the point's engineering units and may be negative. On the
command line an anomaly is written as
``KIND:DEVICE:POINT:at=20s[:magnitude=M][:duration=5s]``; DEVICE may be
``GATEWAY/DEVICE`` when several gateway configs share a device id.

>>> parse_inject("spike:gas-01:ch4:at=20s:magnitude=45")
Anomaly(kind='spike', device='gas-01', point='ch4', at_s=20.0, duration_s=None, magnitude=45.0)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Literal, cast, get_args

from parkwatch.durations import parse_duration
from parkwatch.errors import ConfigError

__all__ = ["AnomalyKind", "Anomaly", "ScheduledAnomaly", "parse_inject", "schedule", "TruthLog"]

AnomalyKind = Literal["spike", "level_shift", "drift", "stuck"]
_KINDS: Final = get_args(AnomalyKind)
_DEFAULT_DURATION_S: Final = {"level_shift": 60.0, "drift": 120.0, "stuck": 30.0}
_ZERO: Final = re.compile(r"^0+(\.0*)?(ms|s|m|h)?$")
_DEFAULT_MAGNITUDE_OF_RANGE: Final = {"spike": 0.4, "level_shift": 0.2, "drift": 0.2}


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An anomaly as asked for; unset fields take the kind's defaults when scheduled."""

    kind: AnomalyKind
    device: str
    point: str
    #: Seconds after the simulator started; ``None``: at the next tick.
    at_s: float | None = None
    duration_s: float | None = None
    magnitude: float | None = None


def parse_inject(spec: str) -> Anomaly:
    """Parse ``KIND:DEVICE:POINT:at=20s[:magnitude=M][:duration=5s]``; :class:`ConfigError` if malformed."""
    parts = spec.split(":")
    if len(parts) < 3:
        raise ConfigError(
            f"--inject {spec!r}: expected KIND:DEVICE:POINT[:at=20s][:magnitude=M][:duration=5s]"
        )
    kind, device, point, *options = parts
    if kind not in _KINDS:
        raise ConfigError(f"--inject {spec!r}: unknown kind {kind!r}; known: {', '.join(_KINDS)}")
    values: dict[str, float] = {}
    for option in options:
        key, sep, text = option.partition("=")
        try:
            if not sep:
                raise ValueError("expected key=value")
            if key in ("at", "duration"):
                values[key] = _seconds(text, allow_zero=key == "at")
            elif key == "magnitude":
                values[key] = float(text)
            else:
                raise ValueError("known options: at, duration, magnitude")
        except ValueError as exc:
            raise ConfigError(f"--inject {spec!r}: option {option!r}: {exc}") from None
    if kind == "stuck" and "magnitude" in values:
        raise ConfigError(f"--inject {spec!r}: stuck takes no magnitude")
    return Anomaly(
        cast(AnomalyKind, kind),
        device,
        point,
        values.get("at"),
        values.get("duration"),
        values.get("magnitude"),
    )


def _seconds(text: str, *, allow_zero: bool) -> float:
    if allow_zero and _ZERO.match(text):
        return 0.0
    return parse_duration(text, bare_seconds=True)


@dataclass(slots=True)
class ScheduledAnomaly:
    """An anomaly with every field resolved, in simulation seconds."""

    kind: AnomalyKind
    site: str
    gateway: str
    device: str
    point: str
    start_s: float
    end_s: float
    magnitude: float | None
    started: bool = False
    #: For ``stuck``: the value frozen at the start.
    held_value: float | None = None

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s

    def apply(self, value: float, t_s: float) -> float:
        """The disturbed value at ``t_s`` (call only while :meth:`active`)."""
        if self.kind == "stuck":
            if self.held_value is None:
                self.held_value = value
            return self.held_value
        magnitude = self.magnitude or 0.0
        if self.kind == "drift":
            return value + magnitude * (t_s - self.start_s) / (self.end_s - self.start_s)
        return value + magnitude


def schedule(
    anomaly: Anomaly,
    *,
    site: str,
    gateway: str,
    now_s: float,
    tick_s: float,
    poll_interval_s: float,
    span: float | None,
) -> ScheduledAnomaly:
    """Resolve the start, duration and magnitude of ``anomaly`` on a point whose range is ``span`` wide."""
    start_s = now_s if anomaly.at_s is None else anomaly.at_s
    duration_s = anomaly.duration_s
    if duration_s is None:
        duration_s = (
            max(3 * poll_interval_s, 3 * tick_s)
            if anomaly.kind == "spike"
            else _DEFAULT_DURATION_S[anomaly.kind]
        )
    magnitude = anomaly.magnitude
    if magnitude is None and anomaly.kind != "stuck":
        if span is None:
            raise ConfigError(
                f"anomaly {anomaly.kind} on {anomaly.device}/{anomaly.point}: the point has no signal range; "
                "give magnitude="
            )
        magnitude = _DEFAULT_MAGNITUDE_OF_RANGE[anomaly.kind] * span
    return ScheduledAnomaly(
        anomaly.kind,
        site,
        gateway,
        anomaly.device.split("/")[-1],
        anomaly.point,
        start_s,
        start_s + duration_s,
        magnitude,
    )


class TruthLog:
    """Appends one JSON line per anomaly when it starts: what a detector should find.

    ``{"kind": "spike", "site": "north", "gateway": "north-gw1", "device": "gas-01",
    "point": "ch4", "start_ms": ..., "end_ms": ..., "magnitude": 40.0}`` with
    wall-clock epoch milliseconds comparable to readings' ``ts_ms``.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def record(self, anomaly: ScheduledAnomaly, start_ms: int) -> dict[str, object]:
        entry: dict[str, object] = {
            "kind": anomaly.kind,
            "site": anomaly.site,
            "gateway": anomaly.gateway,
            "device": anomaly.device,
            "point": anomaly.point,
            "start_ms": start_ms,
            "end_ms": start_ms + round((anomaly.end_s - anomaly.start_s) * 1000),
            "magnitude": anomaly.magnitude,
        }
        if self._file is not None:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()
        return entry

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
