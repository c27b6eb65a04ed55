"""Local alarm rules, evaluated on the gateway on every reading.

Configured in the gateway config, one entry per limit::

    alarms:
      - rule: gas-01-ch4-h1     # an id, unique in the gateway
        device: gas-01
        point: ch4
        high: 25                # exactly one of high / low, in the point's unit
        level: 1                # 1 first-level, 2 second-level (default 1)
        hysteresis: 2           # clear below 25 - 2 (default 0)
        delay: 2s               # raise only after the limit is exceeded this long (default: at once)

Semantics, per rule:

- A ``good`` reading beyond the limit starts the delay; the alarm is
  *raised* by the first reading beyond the limit at least ``delay`` after
  the first one (at once without a delay). A reading back within the limit
  before that cancels the pending raise.
- A raised alarm *clears* at the first good reading past the limit by the
  hysteresis (``value < high - hysteresis``, ``value > low + hysteresis``), so
  a value hovering at the limit does not chatter.
- Readings that are not ``good`` (bad, stale, comm_loss) change nothing: a
  silent detector neither raises nor clears an alarm; its comm_loss is in
  the data.

State survives restarts: the agent persists each change in the outbox
(in the same transaction as its event) and hands the rules active at the
last stop to the evaluator (``active=``). A condition still present after
a restart is therefore not raised again; it clears as usual.

Times are the readings' event times, so evaluation is deterministic. The
evaluator is called on the agent's loop before any preprocessing (a deadband
never hides an alarm); each state change becomes an
:class:`~parkwatch.wire.alarms.AlarmEvent` that the agent puts into the
outbox's alarm class at once.

>>> rule = AlarmRule(rule="r1", device="gas-01", point="ch4", high=25, hysteresis=2, delay="1s")
>>> ev = AlarmEvaluator([rule])
>>> from parkwatch.wire.frames import Reading
>>> [ev.check("gas-01", Reading("ch4", t, v, "good")) for t, v in
...  [(1000, 30.0), (1500, 30.0), (2000, 30.0), (3000, 24.0), (4000, 22.0)]]
[[], [], [('raised', 'r1', 30.0)], [], [('cleared', 'r1', 22.0)]]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parkwatch.durations import Duration
from parkwatch.wire.frames import Reading
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["AlarmRule", "AlarmEvaluator", "Transition"]

#: ``(state, rule id, value)`` of one state change.
Transition = tuple[str, str, float]


class AlarmRule(BaseModel):
    """One limit on one point; see the module docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    rule: str = Field(pattern=ID_PATTERN.pattern)
    device: str = Field(pattern=ID_PATTERN.pattern)
    point: str = Field(pattern=ID_PATTERN.pattern)
    high: float | None = None
    low: float | None = None
    level: int = Field(default=1, ge=1, le=2)
    hysteresis: float = Field(default=0.0, ge=0)
    delay_s: Duration | None = Field(default=None, alias="delay")

    @model_validator(mode="after")
    def _one_limit(self) -> AlarmRule:
        if (self.high is None) == (self.low is None):
            raise ValueError("give exactly one of high or low")
        return self

    @property
    def kind(self) -> str:
        return "high" if self.high is not None else "low"

    @property
    def limit(self) -> float:
        value = self.high if self.high is not None else self.low
        assert value is not None
        return value


@dataclass(slots=True)
class _State:
    active: bool = False
    pending_since_ms: int | None = None


class AlarmEvaluator:
    """Keeps each rule's state; :meth:`check` is called for every reading of a device."""

    def __init__(self, rules: list[AlarmRule], active: Iterable[str] = ()) -> None:
        """``active``: ids of rules raised before (a restart); unknown ids are ignored."""
        self.rules = rules
        restored = set(active)
        self._by_point: dict[tuple[str, str], list[tuple[AlarmRule, _State]]] = {}
        for rule in rules:
            state = _State(active=rule.rule in restored)
            self._by_point.setdefault((rule.device, rule.point), []).append((rule, state))

    def watches(self, device: str) -> bool:
        """Whether any rule is about ``device`` (skip the per-reading loop otherwise)."""
        return any(d == device for d, _ in self._by_point)

    def active(self) -> list[str]:
        """Ids of the rules currently raised."""
        return [r.rule for rules in self._by_point.values() for r, s in rules if s.active]

    def check(self, device: str, reading: Reading) -> list[Transition]:
        """State changes caused by ``reading`` (usually none)."""
        rules = self._by_point.get((device, reading.point))
        if not rules or reading.quality != "good" or reading.value is None:
            return []
        value = reading.value
        out: list[Transition] = []
        for rule, state in rules:
            high = rule.high is not None
            limit = rule.limit
            beyond = value > limit if high else value < limit
            if not state.active:
                if not beyond:
                    state.pending_since_ms = None
                    continue
                if state.pending_since_ms is None:
                    state.pending_since_ms = reading.ts_ms
                delay_ms = (rule.delay_s or 0.0) * 1000
                if reading.ts_ms - state.pending_since_ms >= delay_ms:
                    state.active = True
                    state.pending_since_ms = None
                    out.append(("raised", rule.rule, value))
            else:
                back = value < limit - rule.hysteresis if high else value > limit + rule.hysteresis
                if back:
                    state.active = False
                    out.append(("cleared", rule.rule, value))
        return out

    def rule(self, rule_id: str) -> AlarmRule:
        return next(r for r in self.rules if r.rule == rule_id)
