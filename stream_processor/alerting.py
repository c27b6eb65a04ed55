"""The ``anomaly_score`` alert rule: a pure function of the scores, apart from detectors.

At most one alert is open per point. It opens at the first reading scoring at
least ``open_score``; its id is :func:`~parkwatch.wire.alerts.alert_id` of the
point, the rule and that reading's time, so a replay reopens the same id. It
resolves after ``clear_after`` consecutive scored readings below
``clear_score``; a reading at or above ``clear_score`` restarts that count.
A point firing again within ``reopen_within`` (event time) of its alert's
resolution reopens that alert (same id, ``open`` again, message says so)
rather than opening a new one: a chattering point is one incident.
Severity is ``critical`` from ``critical_score``, else ``warning``, fixed when the alert
opens (escalation and acknowledgement belong to the alert lifecycle, later).
"""

from __future__ import annotations

from typing import Final

from parkwatch.wire.alerts import AlertEvent, Severity, alert_id
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from stream_processor.config import AlertConfig
from stream_processor.detectors import Explanation
from stream_processor.device_state import OpenAlert, PointState

__all__ = ["RULE", "KIND", "AnomalyScoreRule"]

RULE: Final = "anomaly_score"
KIND: Final = "anomaly"


def _band(e: Explanation) -> str:
    if e.expected_low is None or e.expected_high is None:
        return "no expected range yet"
    return f"expected {e.expected_low:.6g}..{e.expected_high:.6g}"


class AnomalyScoreRule:
    """Opens and resolves one alert per point from its scores.

    >>> from stream_processor.detectors import EWMAZScore
    >>> rule = AnomalyScoreRule(AlertConfig(clear_after=2))
    >>> rec = DeviceRecord("north", "gw-01", "gas-01", 1, [])
    >>> ps = PointState(EWMAZScore())
    >>> spike = Reading("ch4", 1764189600000, 87.1, "good")
    >>> ev = rule.observe(rec, ps, spike, Explanation(0.998, 10.2, 14.9))
    >>> ev.state, ev.severity, ev.message
    ('open', 'critical', 'ch4 = 87.1, expected 10.2..14.9')
    >>> [rule.observe(rec, ps, Reading("ch4", t, 12.0, "good"), Explanation(0.01, 10.2, 14.9))
    ...  for t in (1764189601000, 1764189602000)][-1].state
    'resolved'
    """

    def __init__(self, config: AlertConfig) -> None:
        self.config = config

    def observe(
        self, record: DeviceRecord, ps: PointState, reading: Reading, explanation: Explanation
    ) -> AlertEvent | None:
        """Feed one scored reading (in event-time order); returns the alert event it causes, if any."""
        score = explanation.score
        cfg = self.config
        alert = ps.alert
        if alert is None:
            if score < cfg.open_score:
                return None
            severity: Severity = "critical" if score >= cfg.critical_score else "warning"
            message = f"{reading.point} = {reading.value:.6g}, {_band(explanation)}"
            recent = ps.resolved
            if (recent is not None and cfg.reopen_within_s is not None
                    and reading.ts_ms - ps.resolved_ms <= cfg.reopen_within_s * 1000):
                alert = ps.alert = recent
                alert.normal_streak = 0
                if severity == "critical":
                    alert.severity = severity
                message += ", fired again"
            else:
                alert = ps.alert = OpenAlert(
                    alert_id(record.site, record.gateway, record.device, reading.point, RULE, reading.ts_ms),
                    reading.ts_ms,
                    severity,
                )
            return self._event(record, reading, explanation, alert, "open", message)
        if score >= cfg.clear_score:
            alert.normal_streak = 0
            return None
        alert.normal_streak += 1
        if alert.normal_streak < cfg.clear_after:
            return None
        ps.alert = None
        ps.resolved, ps.resolved_ms = alert, reading.ts_ms
        message = (
            f"{reading.point} back to normal for {alert.normal_streak} readings: "
            f"{reading.value:.6g}, {_band(explanation)}"
        )
        return self._event(record, reading, explanation, alert, "resolved", message)

    @staticmethod
    def _event(
        record: DeviceRecord,
        reading: Reading,
        explanation: Explanation,
        alert: OpenAlert,
        state: str,
        message: str,
    ) -> AlertEvent:
        return AlertEvent(
            id=alert.id,
            state="open" if state == "open" else "resolved",
            kind=KIND,
            rule=RULE,
            severity=alert.severity,
            site=record.site,
            gateway=record.gateway,
            device=record.device,
            point=reading.point,
            started_ms=alert.started_ms,
            updated_ms=reading.ts_ms,
            value=reading.value,
            score=float(explanation.score),
            expected_low=explanation.expected_low,
            expected_high=explanation.expected_high,
            message=message,
        )
