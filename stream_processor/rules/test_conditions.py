"""The rule conditions in event time, without Faust: what a backlog does and does not trip."""

from __future__ import annotations

import random

from parkwatch.wire.rules import LimitCondition, RateCondition, StaleCondition
from stream_processor.rules.conditions import (
    RuleState,
    check_stale,
    observe_limit,
    observe_rate,
    observe_stale,
)

HOUR_MS = 3_600_000


def test_an_old_reading_arriving_late_does_not_end_a_stale_alert() -> None:
    cond, st = StaleCondition(after=60.0), RuleState("stale")
    now = 10 * HOUR_MS
    assert [c.action for c in check_stale(cond, st, "p", now - 5 * 60_000, now)] == ["open"]
    backlog = observe_stale(cond, st, "p", now - 4 * 60_000, now)  # replayed: 4 minutes old
    assert backlog == [] and st.alert_ms >= 0
    assert [c.action for c in observe_stale(cond, st, "p", now - 1_000, now)] == ["resolved"]


def test_a_burst_of_old_readings_is_judged_by_their_own_spacing() -> None:
    """A slow climb recorded an hour ago arrives in one burst: its event-time rate is what counts."""
    cond = RateCondition(max_rise_per_min=5.0, window=60.0)
    st = RuleState("rate")
    t0 = 10 * HOUR_MS
    changes = [c for i in range(300) for c in observe_rate(cond, st, "p", t0 + i * 1000, 10 + i * 0.05)]
    assert changes == [], "3 per minute is below the limit however fast the readings arrive"


def test_the_limit_delay_is_event_time() -> None:
    cond = LimitCondition(high=25.0, delay=10.0)
    st = RuleState("limit")
    t0 = 10 * HOUR_MS
    # Nine seconds above the limit then back: no alert, even though all arrive at once.
    opened = [c for i in range(9) for c in observe_limit(cond, st, "p", t0 + i * 1000, 30.0)]
    opened += observe_limit(cond, st, "p", t0 + 9_000, 20.0)
    assert opened == []
    opened = [c for i in range(11) for c in observe_limit(cond, st, "p", t0 + 20_000 + i * 1000, 30.0)]
    assert [(c.action, c.started_ms) for c in opened] == [("open", t0 + 20_000)]


def test_a_prediction_comes_before_the_crossing_and_resolves_when_it_happens() -> None:
    cond = LimitCondition(high=25.0, predict=300.0)
    st = RuleState("limit")
    t0 = 10 * HOUR_MS
    changes = []
    for i in range(600):  # flat at 10 for 5 minutes, then +0.1 per second
        value = 10.0 if i < 300 else 10.0 + (i - 300) * 0.1
        changes += [(c.kind, c.action, i, c.message)
                    for c in observe_limit(cond, st, "ch4", t0 + i * 1000, value)]
    kinds = [(k, a) for k, a, _, _ in changes]
    assert kinds == [("predicted", "open"), ("limit", "open"), ("predicted", "resolved")]
    predicted_at, crossed_at = changes[0][2], changes[1][2]
    assert 300 < predicted_at < crossed_at == 451
    assert "expected to cross 25 in about" in changes[0][3]


def test_noise_around_a_level_predicts_nothing() -> None:
    rng = random.Random(3)
    cond = LimitCondition(high=25.0, predict=300.0)
    st = RuleState("limit")
    t0 = 10 * HOUR_MS
    changes = [c for i in range(20_000)
               for c in observe_limit(cond, st, "ch4", t0 + i * 1000, 10 + rng.gauss(0, 1))]
    assert changes == []
