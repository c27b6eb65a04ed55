"""Score one device record: the per-reading work of the agent, as a plain function.

For each point of the record, in record order: readings that are not
``good``, or not newer than the point's last scored reading (a replay or a
duplicate), are stored unscored; the others are explained (score + expected
band) *before* being learned, one by one or, when a point has many readings in
the record (a backlog), with the detector's batch method. Each scored reading
is fed to the ``anomaly_score`` alert rule and to the monitoring rules in
scope of the point (:mod:`stream_processor.rules`). The result is the InfluxDB lines of every reading
and alert event and the alert events to publish; the caller writes the
mutated :class:`~stream_processor.device_state.DeviceState` back to its table.

No I/O and no Faust here, so it is unit-tested and benchmarked directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from stream_processor.alerting import AnomalyScoreRule
from stream_processor.config import ProcessorConfig
from stream_processor.detectors import Explanation
from stream_processor.device_state import DeviceState, PointState
from stream_processor.rules.engine import RuleEngine
from stream_processor.sink.line_protocol import alert_line, escape_tag, reading_line, reading_prefix

__all__ = ["RecordResult", "RecordScorer"]


@dataclass(slots=True)
class RecordResult:
    """What one record produced."""

    lines: list[str] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)
    scored: int = 0


class RecordScorer:
    """Applies the configured detector, the anomaly alert rule and the rule book to records.

    >>> from parkwatch.wire.frames import Reading
    >>> scorer = RecordScorer(ProcessorConfig())
    >>> state = DeviceState()
    >>> rec = DeviceRecord("north", "gw-01", "gas-01", 1,
    ...                    [Reading("ch4", 1764189600000, 12.5, "good"),
    ...                     Reading("h2s", 1764189600000, None, "comm_loss")])
    >>> result = scorer.process(rec, state)
    >>> for line in result.lines: print(line)
    reading,site=north,gateway=gw-01,device=gas-01,point=ch4 value=12.5,quality="good",score=0.0 1764189600000
    reading,site=north,gateway=gw-01,device=gas-01,point=h2s quality="comm_loss" 1764189600000
    >>> sorted(state.points)
    ['ch4', 'h2s']
    """

    def __init__(self, config: ProcessorConfig, rules: RuleEngine | None = None) -> None:
        self.config = config
        self.rule = AnomalyScoreRule(config.alerts)
        self.rules = rules

    def process(self, record: DeviceRecord, state: DeviceState, now_ms: int | None = None) -> RecordResult:
        """Score, learn and alert on every reading of ``record``; mutates ``state``.

        ``now_ms`` (default: the wall clock) only decides whether a reading is
        recent enough to end a stale alert."""
        result = RecordResult()
        self._now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        prefix = reading_prefix(record)
        by_point: dict[str, list[Reading]] = {}
        for reading in record.readings:
            rows = by_point.get(reading.point)
            if rows is None:
                by_point[reading.point] = [reading]
            else:
                rows.append(reading)
        points = state.points
        for point, rows in by_point.items():
            ps = points.get(point)
            if ps is None:
                ps = points[point] = PointState(self.config.detector.create())
            self._point(record, ps, escape_tag(point), prefix, rows, result)
        return result

    def _point(
        self,
        record: DeviceRecord,
        ps: PointState,
        tag: str,
        prefix: str,
        rows: list[Reading],
        result: RecordResult,
    ) -> None:
        lines = result.lines
        last = ps.last_scored_ms
        todo: list[Reading] = []
        for r in rows:
            if r.quality == "good" and r.ts_ms > last:
                todo.append(r)
                last = r.ts_ms
            else:
                lines.append(reading_line(prefix, tag, r.ts_ms, r.value, r.quality, None))
        if not todo:
            return
        ps.last_scored_ms = last
        result.scored += len(todo)
        det = ps.detector
        open_score = self.rule.config.open_score
        observe = self.rule.observe
        engine = self.rules
        rules = engine.rules_for(record, todo[0].point, ps) if engine is not None else None
        if len(todo) >= self.config.vector_min_readings:
            batch = det.explain_learn_many([r.value for r in todo])  # type: ignore[arg-type]  # good: floats
            for i, (r, score) in enumerate(zip(todo, batch.score.tolist(), strict=True)):
                lines.append(reading_line(prefix, tag, r.ts_ms, r.value, r.quality, score))
                if score >= open_score or ps.alert is not None:
                    self._alert(observe(record, ps, r, batch.at(i)), result)
                if rules is not None:
                    self._rule_events(engine.observe(record, ps, r, score, self._now_ms, rules), result)  # type: ignore[union-attr]
            return
        explain_learn = det.explain_learn_one
        for r in todo:
            value: float = r.value  # type: ignore[assignment]  # good readings always have one
            e: Explanation = explain_learn(value)
            lines.append(reading_line(prefix, tag, r.ts_ms, value, r.quality, e.score))
            if e.score >= open_score or ps.alert is not None:
                self._alert(observe(record, ps, r, e), result)
            if rules is not None:
                self._rule_events(engine.observe(record, ps, r, e.score, self._now_ms, rules), result)  # type: ignore[union-attr]

    @staticmethod
    def _rule_events(events: list[AlertEvent], result: RecordResult) -> None:
        for event in events:
            result.alerts.append(event)
            result.lines.append(alert_line(event))

    @staticmethod
    def _alert(event: AlertEvent | None, result: RecordResult) -> None:
        if event is not None:
            result.alerts.append(event)
            result.lines.append(alert_line(event))
