"""The per-point state machines of the rule conditions, as pure functions of event time.

Each ``observe_*`` takes one reading of the point (event time ``ts_ms``, in
order; the caller skips replays and duplicates) and the rule's
:class:`RuleState`, mutates the state and returns the :class:`Change`\\ s it
causes: an alert opening or resolving. Nothing here reads a clock, so a
backlog replayed hours late gives the same changes as the same readings
live, and a burst of old readings is judged by the spacing of their own
timestamps (a rate rule sees their true rate, not the burst's).

Staleness is the exception, by nature: "no reading for 5 minutes" is about
now; :func:`check_stale` takes the wall clock from the caller's sweep.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal

from parkwatch.wire.rules import LimitCondition, RateCondition, ScoreCondition, StaleCondition

__all__ = [
    "Change",
    "RuleState",
    "observe_limit",
    "observe_rate",
    "observe_score",
    "check_stale",
    "observe_stale",
]

#: Time constants of the trend a predicting limit rule follows (Holt's linear method in event time).
LEVEL_TAU_S: Final = 15.0
TREND_TAU_S: Final = 120.0
#: Consecutive readings that must agree before a predicted alert opens or resolves (noise).
PREDICT_CONFIRM: Final = 5
#: A rate or score alert resolves once the rate is below this share of its limit (hysteresis).
RATE_CLEAR_SHARE: Final = 0.8
#: Samples a rate rule keeps per point; a faster point's window is thinned, not grown.
RATE_SAMPLES: Final = 240


@dataclass(slots=True)
class Change:
    """An alert of this rule and point opens or resolves."""

    action: Literal["open", "resolved"]
    #: ``limit``, ``predicted``, ``rate``, ``score`` or ``stale`` (the alert's ``kind``).
    kind: str
    #: Event time the incident started; with the rule and point it makes the alert id.
    started_ms: int
    message: str
    expected_low: float | None = None
    expected_high: float | None = None


@dataclass(slots=True)
class RuleState:
    """One rule's memory of one point (pickled with the device state: keep it small)."""

    #: The condition type this state belongs to; an edited rule of another type starts afresh.
    ctype: str
    #: The rule's severity when its alert opened (a removed rule's alert resolves with it).
    severity: str = "warning"
    #: Start of the open alert, or -1.
    alert_ms: int = -1
    #: The last resolved alert's start and when it resolved (reopening, see the engine), or -1.
    resolved_started_ms: int = -1
    resolved_ms: int = -1
    #: Since when the condition holds without an alert yet (delay / ``for``), or -1.
    since_ms: int = -1
    #: Since when a score rule's score is back below its level, or -1.
    below_ms: int = -1
    # Predicting limit rules: the trend, and the predicted alert.
    last_ms: int = -1
    level: float = 0.0
    slope: float = 0.0
    predicted_ms: int = -1
    streak: int = 0
    #: Rate rules: recent (event time, value) samples within the window.
    samples: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=RATE_SAMPLES))


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def observe_limit(cond: LimitCondition, st: RuleState, point: str, ts_ms: int, value: float) -> list[Change]:
    """High/low limit with delay and hysteresis, and (``predict``) a trend that will cross it.

    >>> cond = LimitCondition(high=25.0, hysteresis=2.0, delay="2s")
    >>> st = RuleState("limit")
    >>> [c.action for t, v in [(0, 20.0), (1000, 26.0), (2000, 27.0), (3000, 28.0), (4000, 24.0),
    ...                        (5000, 22.5)] for c in observe_limit(cond, st, "ch4", t, v)]
    ['open', 'resolved']
    >>> st.alert_ms
    -1
    """
    changes: list[Change] = []
    high, low = cond.high, cond.low
    over = high is not None and value > high
    under = low is not None and value < low
    if st.alert_ms < 0:
        if over or under:
            if st.since_ms < 0:
                st.since_ms = ts_ms
            if ts_ms - st.since_ms >= cond.delay * 1000:
                st.alert_ms = st.since_ms
                limit = high if over else low
                side = "above high" if over else "below low"
                held = f" for {_duration(cond.delay)}" if cond.delay else ""
                changes.append(Change("open", "limit", st.alert_ms,
                                      f"{point} = {_fmt(value)}, {side} limit {_fmt(limit)}{held}",  # type: ignore[arg-type]
                                      low, high))
        else:
            st.since_ms = -1
    else:
        inside = (high is None or value <= high - cond.hysteresis) and (
            low is None or value >= low + cond.hysteresis
        )
        if inside:
            changes.append(Change("resolved", "limit", st.alert_ms,
                                  f"{point} = {_fmt(value)}, back within limits", low, high))
            st.alert_ms = -1
            st.since_ms = -1
    if cond.predict is not None:
        changes.extend(_predict(cond, cond.predict, st, point, ts_ms, value))
    return changes


def _predict(cond: LimitCondition, horizon_s: float, st: RuleState, point: str, ts_ms: int,
             value: float) -> list[Change]:
    """Follow the point's level and slope; a crossing expected within the horizon raises a
    ``predicted`` alert, which resolves when the limit alert opens (the prediction came true) or
    the trend no longer points at the limit."""
    if st.last_ms < 0:
        st.level, st.slope = value, 0.0
    else:
        dt = (ts_ms - st.last_ms) / 1000
        if dt <= 0:
            return []
        a = 1 - math.exp(-dt / LEVEL_TAU_S)
        b = 1 - math.exp(-dt / TREND_TAU_S)
        prev = st.level
        st.level += st.slope * dt
        st.level += a * (value - st.level)
        st.slope += b * ((st.level - prev) / dt - st.slope)
    st.last_ms = ts_ms
    eta_s = math.inf
    target = None
    if cond.high is not None and st.slope > 0 and st.level < cond.high:
        eta_s, target = (cond.high - st.level) / st.slope, cond.high
    elif cond.low is not None and st.slope < 0 and st.level > cond.low:
        eta_s, target = (st.level - cond.low) / -st.slope, cond.low
    coming = target is not None and eta_s <= horizon_s and st.alert_ms < 0
    if st.predicted_ms < 0:
        st.streak = st.streak + 1 if coming else 0
        if st.streak < PREDICT_CONFIRM:
            return []
        st.predicted_ms, st.streak = ts_ms, 0
        return [Change("open", "predicted", ts_ms,
                       f"{point} = {_fmt(value)}, expected to cross {_fmt(target)} in about "  # type: ignore[arg-type]
                       f"{_duration(eta_s)}", cond.low, cond.high)]
    if st.alert_ms >= 0:
        started, st.predicted_ms, st.streak = st.predicted_ms, -1, 0
        return [Change("resolved", "predicted", started, f"{point} crossed the limit as predicted",
                       cond.low, cond.high)]
    st.streak = 0 if coming else st.streak + 1
    if st.streak < PREDICT_CONFIRM:
        return []
    started, st.predicted_ms, st.streak = st.predicted_ms, -1, 0
    return [Change("resolved", "predicted", started, f"{point} = {_fmt(value)}, trend no longer "
                   "heading for the limit", cond.low, cond.high)]


def observe_rate(cond: RateCondition, st: RuleState, point: str, ts_ms: int, value: float) -> list[Change]:
    """Change per minute over the window, in event time: the oldest sample still inside the
    window against this reading, once the samples span at least half the window.

    >>> cond = RateCondition(max_rise_per_min=10.0, window="60s")
    >>> st = RuleState("rate")
    >>> [c.message for t in range(0, 61, 10) for c in observe_rate(cond, st, "t1", t * 1000, t / 2)]
    ['t1 rose 30 per min over 30 s, limit 10 per min']
    """
    samples = st.samples
    samples.append((ts_ms, value))
    horizon = ts_ms - cond.window * 1000
    while samples and samples[0][0] < horizon:
        samples.popleft()
    first_ms, first_value = samples[0]
    span_s = (ts_ms - first_ms) / 1000
    if span_s < cond.window / 2:
        return []
    rate = (value - first_value) / span_s * 60
    rise, fall = cond.max_rise_per_min, cond.max_fall_per_min
    if st.alert_ms < 0:
        if rise is not None and rate > rise:
            st.alert_ms = ts_ms
            return [Change("open", "rate", ts_ms, f"{point} rose {_fmt(rate)} per min over "
                           f"{_duration(span_s)}, limit {_fmt(rise)} per min")]
        if fall is not None and -rate > fall:
            st.alert_ms = ts_ms
            return [Change("open", "rate", ts_ms, f"{point} fell {_fmt(-rate)} per min over "
                           f"{_duration(span_s)}, limit {_fmt(fall)} per min")]
        return []
    calm = (rise is None or rate <= rise * RATE_CLEAR_SHARE) and (
        fall is None or -rate <= fall * RATE_CLEAR_SHARE
    )
    if not calm:
        return []
    started, st.alert_ms = st.alert_ms, -1
    return [Change("resolved", "rate", started, f"{point} rate back to {_fmt(rate)} per min")]


def observe_score(cond: ScoreCondition, st: RuleState, point: str, ts_ms: int, score: float) -> list[Change]:
    """Anomaly score at or above the level for ``for`` seconds opens; below it for as long
    (at least one reading) resolves.

    >>> cond = ScoreCondition(above=0.8, **{"for": "2s"})
    >>> st = RuleState("score")
    >>> [(t, c.action) for t, s in [(0, 0.9), (1000, 0.95), (2000, 0.9), (3000, 0.1), (5000, 0.1)]
    ...  for c in observe_score(cond, st, "ch4", t, s)]
    [(2000, 'open'), (5000, 'resolved')]
    """
    hold_ms = cond.for_ * 1000
    if score >= cond.above:
        st.below_ms = -1
        if st.alert_ms >= 0:
            return []
        if st.since_ms < 0:
            st.since_ms = ts_ms
        if ts_ms - st.since_ms < hold_ms:
            return []
        st.alert_ms = st.since_ms
        return [Change("open", "score", st.alert_ms, f"{point} anomaly score {score:.3f} at or above "
                       f"{cond.above:g} for {_duration(cond.for_)}")]
    st.since_ms = -1
    if st.alert_ms < 0:
        return []
    if st.below_ms < 0:
        st.below_ms = ts_ms
    if ts_ms - st.below_ms < hold_ms:
        return []
    started, st.alert_ms, st.below_ms = st.alert_ms, -1, -1
    return [Change("resolved", "score", started, f"{point} anomaly score back to {score:.3f}")]


def observe_stale(cond: StaleCondition, st: RuleState, point: str, ts_ms: int, now_ms: int) -> list[Change]:
    """A good reading resolves an open stale alert, unless the reading is itself older than
    the rule's limit (a backlog arriving late says nothing about the point being live now)."""
    if st.alert_ms < 0 or now_ms - ts_ms > cond.after * 1000:
        return []
    started, st.alert_ms = st.alert_ms, -1
    return [Change("resolved", "stale", started, f"{point} reporting again")]


def check_stale(cond: StaleCondition, st: RuleState, point: str, last_good_ms: int,
                now_ms: int) -> list[Change]:
    """The sweep's test: no good reading for longer than ``after`` opens (started = when the
    limit passed, so a second worker or a restart derives the same alert id).

    >>> cond = StaleCondition(after="60s")
    >>> st = RuleState("stale")
    >>> check_stale(cond, st, "ch4", 0, 30_000), [c.message for c in check_stale(cond, st, "ch4", 0, 61_000)]
    ([], ['ch4 no good reading for 60 s'])
    """
    if st.alert_ms >= 0 or last_good_ms < 0 or now_ms - last_good_ms <= cond.after * 1000:
        return []
    st.alert_ms = last_good_ms + int(cond.after * 1000)
    return [Change("open", "stale", st.alert_ms, f"{point} no good reading for {_duration(cond.after)}")]
