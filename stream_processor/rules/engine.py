"""Apply the rule book to scored readings and to the stale sweep; turn changes into alert events.

Alert ids follow :func:`~parkwatch.wire.alerts.alert_id` of the point, the
rule id (``<rule>#predicted`` for a predicted alert) and the event time the
incident started, so a replay or another worker derives the same id. A rule
that was removed or disabled while its alert was open resolves that alert
the next time the point is judged or swept. A rule edited to another
condition type starts the point afresh (its open alert resolves first).
A rule alert firing again within ``reopen_within_s`` (event time) of its
resolution reopens the same alert, as the anomaly rule does.
"""

from __future__ import annotations

from typing import Final, cast

from parkwatch.wire.alerts import AlertEvent, Severity, alert_id
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from parkwatch.wire.rules import LimitCondition, RateCondition, Rule, ScoreCondition, StaleCondition
from stream_processor.device_state import PointState
from stream_processor.rules.book import RuleBook
from stream_processor.rules.conditions import (
    Change,
    RuleState,
    check_stale,
    observe_limit,
    observe_rate,
    observe_score,
    observe_stale,
)

__all__ = ["RuleEngine", "PREDICTED_SUFFIX"]

PREDICTED_SUFFIX: Final = "#predicted"
_LOWER: Final[dict[str, Severity]] = {"critical": "warning", "warning": "info", "info": "info"}


class RuleEngine:
    """Per-point rule evaluation over a :class:`RuleBook`.

    >>> from parkwatch.wire.rules import Scope
    >>> book = RuleBook()
    >>> book.apply(b"ch4-high", Rule(id="ch4-high", version=1, name="CH4 high", severity="critical",
    ...     scope=Scope(point="ch4"), condition=LimitCondition(high=25), updated_ms=0,
    ...     updated_by="a").encode())
    >>> engine, ps = RuleEngine(book), PointState(None)  # type: ignore[arg-type]
    >>> rec = DeviceRecord("north", "gw-01", "gas-01", 1, [])
    >>> ev = engine.observe(rec, ps, Reading("ch4", 1000, 30.0, "good"), 0.0, 1000)[0]
    >>> ev.kind, ev.rule, ev.severity, ev.message
    ('limit', 'ch4-high', 'critical', 'ch4 = 30, above high limit 25')
    >>> book.apply(b"ch4-high", None)
    >>> [(e.state, e.message) for e in engine.observe(rec, ps, Reading("ch4", 2000, 31.0, "good"), 0.0, 2000)]
    [('resolved', 'rule ch4-high no longer applies to ch4')]
    """

    def __init__(self, book: RuleBook, reopen_within_s: float | None = None) -> None:
        self.book = book
        self.reopen_within_ms = None if reopen_within_s is None else reopen_within_s * 1000

    def rules_for(self, record: DeviceRecord, point: str, ps: PointState) -> tuple[Rule, ...] | None:
        """The rules to run for this point's readings, or None when there is nothing to do."""
        if not self.book and not ps.rules:
            return None
        rules = self.book.for_point(record.site, record.gateway, record.device, point)
        return rules if rules or ps.rules else None

    def observe(self, record: DeviceRecord, ps: PointState, reading: Reading, score: float,
                now_ms: int, rules: tuple[Rule, ...] | None = None) -> list[AlertEvent]:
        """Judge one good, new reading of the point (in event-time order) by every rule in scope."""
        if rules is None:
            rules = self.book.for_point(record.site, record.gateway, record.device, reading.point)
        events = self._retire(record, reading.point, ps, rules, reading.ts_ms)
        value = cast(float, reading.value)
        states = ps.rules
        for rule in rules:
            cond = rule.condition
            st = self._state(record, reading.point, ps, rule, reading.ts_ms, events)
            if isinstance(cond, LimitCondition):
                changes = observe_limit(cond, st, reading.point, reading.ts_ms, value)
            elif isinstance(cond, RateCondition):
                changes = observe_rate(cond, st, reading.point, reading.ts_ms, value)
            elif isinstance(cond, ScoreCondition):
                changes = observe_score(cond, st, reading.point, reading.ts_ms, score)
            else:
                changes = observe_stale(cast(StaleCondition, cond), st, reading.point, reading.ts_ms, now_ms)
            for change in changes:
                self._reopen(st, change, reading.ts_ms)
                events.append(self._event(record, reading.point, rule.id, rule.severity, st, change,
                                          reading.ts_ms, value))
        if states is not None and not states:
            ps.rules = None
        return events

    def sweep(self, record: DeviceRecord, point: str, ps: PointState, now_ms: int) -> list[AlertEvent]:
        """The periodic check of a point without readings: stale rules, and rules gone away.

        ``now_ms`` is the worker's reference time (wall clock when caught up, see the agent)."""
        rules = self.book.for_point(record.site, record.gateway, record.device, point)
        if not rules and not ps.rules:
            return []
        events = self._retire(record, point, ps, rules, now_ms)
        for rule in rules:
            if isinstance(rule.condition, StaleCondition):
                st = self._state(record, point, ps, rule, now_ms, events)
                for change in check_stale(rule.condition, st, point, ps.last_scored_ms, now_ms):
                    self._reopen(st, change, now_ms)
                    events.append(self._event(record, point, rule.id, rule.severity, st, change, now_ms,
                                              None))
        if ps.rules is not None and not ps.rules:
            ps.rules = None
        return events

    def _reopen(self, st: RuleState, change: Change, ts_ms: int) -> None:
        """Remember a resolution; turn an opening soon after one into reopening that alert."""
        if change.kind == "predicted":
            return
        if change.action == "resolved":
            st.resolved_started_ms, st.resolved_ms = change.started_ms, ts_ms
            return
        window = self.reopen_within_ms
        if window is not None and st.resolved_ms >= 0 and change.started_ms - st.resolved_ms <= window:
            change.started_ms = st.alert_ms = st.resolved_started_ms
            change.message += ", fired again"

    def _state(self, record: DeviceRecord, point: str, ps: PointState, rule: Rule, ts_ms: int,
               events: list[AlertEvent]) -> RuleState:
        states = ps.rules
        if states is None:
            states = ps.rules = {}
        st = states.get(rule.id)
        ctype = rule.condition.type
        if st is not None and st.ctype != ctype:
            events.extend(self._close(record, point, rule.id, st, ts_ms, f"rule {rule.id} changed"))
            st = None
        if st is None:
            st = states[rule.id] = RuleState(ctype, severity=rule.severity)
        return st

    def _retire(self, record: DeviceRecord, point: str, ps: PointState, rules: tuple[Rule, ...],
                ts_ms: int) -> list[AlertEvent]:
        """Resolve and forget the state of rules that no longer apply to the point."""
        states = ps.rules
        if not states:
            return []
        current = {r.id for r in rules}
        events: list[AlertEvent] = []
        for rule_id in [r for r in states if r not in current]:
            events.extend(self._close(record, point, rule_id, states.pop(rule_id), ts_ms,
                                      f"rule {rule_id} no longer applies to {point}"))
        return events

    def _close(self, record: DeviceRecord, point: str, rule_id: str, st: RuleState, ts_ms: int,
               message: str) -> list[AlertEvent]:
        events = []
        if st.alert_ms >= 0:
            events.append(self._event(record, point, rule_id, st.severity, st,
                                      Change("resolved", _kind(st.ctype), st.alert_ms, message), ts_ms, None))
        if st.predicted_ms >= 0:
            events.append(self._event(record, point, rule_id, st.severity, st,
                                      Change("resolved", "predicted", st.predicted_ms, message), ts_ms, None))
        return events

    @staticmethod
    def _event(record: DeviceRecord, point: str, rule_id: str, severity: str, st: RuleState,
               change: Change, ts_ms: int, value: float | None) -> AlertEvent:
        predicted = change.kind == "predicted"
        if change.action == "open" and not predicted:
            st.severity = severity
        sev = cast(Severity, st.severity)
        return AlertEvent(
            id=alert_id(record.site, record.gateway, record.device, point,
                        rule_id + PREDICTED_SUFFIX if predicted else rule_id, change.started_ms),
            state=change.action,
            kind=change.kind,
            rule=rule_id,
            severity=_LOWER[sev] if predicted else sev,
            site=record.site,
            gateway=record.gateway,
            device=record.device,
            point=point,
            started_ms=change.started_ms,
            updated_ms=ts_ms,
            value=value,
            score=None,
            expected_low=change.expected_low,
            expected_high=change.expected_high,
            message=change.message,
        )


def _kind(ctype: str) -> str:
    return "gateway" if ctype == "gateway_offline" else ctype
