"""The combined detector: which part fired, its band, repeat suppression, configuration errors."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import pytest

from parkwatch.errors import ConfigError
from stream_processor.detectors import EnsembleDetector, create_detector


def _noise(n: int, seed: int = 3, level: float = 50.0) -> list[float]:
    return (level + np.random.default_rng(seed).normal(0.0, 1.0, n)).tolist()


def test_explanation_names_the_part_its_band_and_the_value() -> None:
    det = EnsembleDetector()
    det.learn_many(_noise(400))
    before = pickle.dumps(det)
    e = det.explain_detail(90.0)
    assert pickle.dumps(det) == before  # explaining is pure
    assert e.detector == "ewma_level" and e.observed == 90.0
    assert e.expected_low is not None and e.expected_high is not None
    assert e.expected_low < 50.0 < e.expected_high < 90.0
    assert e.score > 0.99
    assert e[:3] == tuple(det.explain_one(90.0))
    quiet = det.explain_detail(50.3)
    assert quiet.score < 0.1


def test_stuck_sensor_is_named_when_flatline_is_a_member() -> None:
    det = EnsembleDetector(members={"ewma_level": {}, "flatline": {"z_center": 4.5}})
    det.learn_many(_noise(300))
    for _ in range(20):
        det.learn_one(50.1)
    e = det.explain_detail(50.1)
    assert e.detector == "flatline" and e.score > 0.9


def test_a_lasting_anomaly_scores_high_once_then_lower() -> None:
    det = EnsembleDetector()
    det.learn_many(_noise(400))
    first = det.explain_learn_one(90.0).score
    second = det.explain_learn_one(90.0).score
    assert first > 0.99 and second < first
    bigger = det.explain_learn_one(400.0).score  # a larger one inside it still stands out
    assert bigger > 0.99


def test_warm_up_gives_no_score_and_no_band() -> None:
    e = EnsembleDetector().explain_detail(5.0)
    assert (e.score, e.expected_low, e.expected_high, e.detector) == (0.0, None, None, None)


def test_members_must_report_a_z_statistic_and_exist() -> None:
    with pytest.raises(ConfigError, match="z statistic"):
        create_detector("ensemble", {"members": {"ewma_zscore": {}}})
    with pytest.raises(ConfigError, match="unknown detector 'nope'"):
        create_detector("ensemble", {"members": {"nope": {}}})
    with pytest.raises(ConfigError, match="at least one member"):
        create_detector("ensemble", {"members": {}})


def test_a_new_extreme_scores_high_and_is_named_range() -> None:
    det = EnsembleDetector(extreme_min_u=0.0)  # every new extreme counts, whatever the parts say
    det.learn_many(_noise(400))  # a range of about 50 ± 3
    low, high = det.low, det.high
    x = high + 0.08 * (high - low)  # beyond the range by more than its 5 %, yet a modest z
    parts_only = EnsembleDetector(extreme_u=0.0)
    parts_only.learn_many(_noise(400))
    assert parts_only.score_one(x) < 0.9
    e = det.explain_detail(x)
    assert e.detector == "range" and e.score > 0.99
    assert det.explain_detail(high - 0.1).detector == "ewma_level"  # inside the range


def test_a_new_extreme_counts_only_when_the_parts_find_it_unusual() -> None:
    det, parts_only = EnsembleDetector(), EnsembleDetector(extreme_u=0.0)
    det.learn_many(_noise(400))
    parts_only.learn_many(_noise(400))
    low, high = det.low, det.high
    ordinary = high + 0.08 * (high - low)  # a record, but z about 3.5: the parts' u < extreme_min_u
    e = det.explain_detail(ordinary)
    assert e.detector == "ewma_level" and e.score == parts_only.score_one(ordinary) < 0.9
    unusual = 55.0  # z about 5.3: u about 1.2 >= extreme_min_u, a score of about 0.8 from the parts alone
    assert unusual > high + 0.05 * (high - low) and 0.5 < parts_only.score_one(unusual) < 0.9
    e = det.explain_detail(unusual)
    assert e.detector == "range" and e.score > 0.99


def _spiky_days(days: int, phase: int, period: int = 288) -> list[float]:
    xs = _noise(period * days, seed=5)
    for day in range(days):
        xs[day * period + phase] += 15.0
    return xs


def test_an_event_at_the_same_time_one_period_later_is_a_repeat() -> None:
    xs = _spiky_days(5, phase=100)
    det, no_memory = EnsembleDetector(), EnsembleDetector(repeat_period=0)
    scores = [det.explain_learn_one(x).score for x in xs]
    plain = [no_memory.explain_learn_one(x).score for x in xs]
    spikes = [day * 288 + 100 for day in range(5)]
    assert scores[spikes[0]] > 0.9  # the first time it is news
    assert all(scores[i] < 0.9 for i in spikes[1:])  # then a daily repeat: no alert
    assert scores[spikes[4]] < scores[spikes[2]] < scores[spikes[1]]  # and ever less news
    assert all(plain[i] > 0.9 for i in spikes[1:])  # which only the repeat memory knows
    det.learn_many(_noise(100, seed=8))  # on to 100 readings into the sixth period
    assert det.explain_one(65.0).score < 0.9  # the same event at the same time: still a repeat
    det.learn_many(_noise(60, seed=9))
    assert det.explain_one(65.0).score > 0.9  # at another time of day it is news


def test_a_repeat_memory_fades() -> None:
    det = EnsembleDetector(repeat_decay=0.5)
    xs = _spiky_days(2, phase=100) + _noise(288 * 3, seed=6)  # the spike stops for three days
    det.learn_many(xs)
    det.learn_many(_noise(100, seed=7))
    assert det.explain_one(65.0).score > 0.9  # 0.5**3 of the old peak is not enough to call it a repeat


def test_the_range_and_the_likelihood_wait_for_the_warm_up() -> None:
    quiet = _noise(100)
    det, plain = EnsembleDetector(), EnsembleDetector(extreme_u=0.0, likelihood_gain=0.0)
    det.learn_many(quiet)
    plain.learn_many(quiet)
    probe = np.linspace(40.0, 60.0, 21)
    np.testing.assert_array_equal(det.score_many(probe), plain.score_many(probe))


def test_a_lasting_change_of_the_raw_score_is_lifted_by_the_likelihood() -> None:
    rng = np.random.default_rng(11)
    before = (50.0 + rng.normal(0.0, 1.0, 1500)).tolist()
    after = (50.0 + rng.normal(0.0, 2.5, 300)).tolist()  # noisier, but no single reading stands out much
    det, plain = EnsembleDetector(extreme_u=0.0), EnsembleDetector(extreme_u=0.0, likelihood_gain=0.0)
    for x in before:
        det.learn_one(x)
        plain.learn_one(x)
    with_likelihood = [det.explain_learn_one(x).score for x in after]
    without = [plain.explain_learn_one(x).score for x in after]
    assert max(with_likelihood) > max(without)
    assert np.mean(np.array(with_likelihood) > np.array(without)) > 0.5
    # and a quiet stretch is left alone: the likelihood does not lift ordinary noise
    quiet = EnsembleDetector(extreme_u=0.0)
    quiet.learn_many(before)
    assert quiet.score_one(50.3) < 0.1


@pytest.mark.parametrize("params", [{"warmup": 1}, {"extreme_tolerance": -0.1}, {"extreme_u": -1.0},
                                    {"extreme_min_u": -0.1}, {"repeat_period": -1}, {"repeat_width": 0},
                                    {"repeat_width": 289}, {"repeat_decay": 1.5}, {"repeat_margin": 0.0},
                                    {"repeat_factor": 2.0}, {"likelihood_gain": -1.0},
                                    {"likelihood_short": 0.0}, {"likelihood_long": 1.0}])
def test_bad_parameters_are_config_errors(params: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="invalid parameters"):
        create_detector("ensemble", params)


def test_the_default_opens_no_alert_on_plain_noise() -> None:
    """The production default must not flood: a noisy sine never reaches the alert level."""
    rng = random.Random(7)
    for _ in range(20):
        det = EnsembleDetector()
        for i in range(600):
            x = 50.0 + 10.0 * math.sin(i / 60) + rng.gauss(0.0, 1.0)
            assert det.score_one(x) < 0.9
            det.learn_one(x)


def _alerts_opened(scores: list[float], open_score: float = 0.9, clear_score: float = 0.5,
                   clear_after: int = 10) -> int:
    """Alerts the ``anomaly_score`` rule (default ``AlertConfig``) would open on these scores."""
    opened, calm, is_open = 0, 0, False
    for s in scores:
        if not is_open:
            if s >= open_score:
                opened, is_open, calm = opened + 1, True, 0
        else:
            calm = calm + 1 if s < clear_score else 0
            is_open = calm < clear_after
    return opened


@pytest.mark.parametrize("kind", ["white", "ar1_daily", "quantised_sine"])
def test_the_default_does_not_flood_plain_signals(kind: str) -> None:
    """At most one alert per 20,000 readings of a plain signal (the range check once opened 2 per 1,000).

    docs/nab.md has the rates over longer runs; a park of 20,000 points must not see an alert per
    point and hour.
    """
    rng = np.random.default_rng(17)
    size = 20_000
    t = np.arange(size)
    if kind == "white":
        xs = 50.0 + rng.normal(0.0, 1.0, size)
    elif kind == "ar1_daily":  # like field_sim: AR(0.8) noise on a slow cycle of 3,600 readings
        noise = np.zeros(size)
        e = rng.normal(0.0, 0.6, size)
        for i in range(1, size):
            noise[i] = 0.8 * noise[i - 1] + e[i]
        xs = 50.0 + 5.0 * np.sin(2 * np.pi * t / 3600) + noise
    else:  # a sensor that reports in steps of 0.5
        xs = np.round((50.0 + 10.0 * np.sin(t / 60) + rng.normal(0.0, 1.0, size)) * 2) / 2
    opened = 0
    for seed_shift in range(2):
        det = EnsembleDetector()
        series = xs if seed_shift == 0 else xs[::-1].copy()
        opened += _alerts_opened([det.explain_learn_one(x).score for x in series.tolist()])
    assert opened <= 2
