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
    det = EnsembleDetector(extreme_u=4.0)
    det.learn_many(_noise(400))  # a range of about 50 ± 3
    low, high = det.low, det.high
    x = high + 0.08 * (high - low)  # beyond the range by more than its 5 %, yet a modest z
    parts_only = EnsembleDetector(extreme_u=0.0)
    parts_only.learn_many(_noise(400))
    assert parts_only.score_one(x) < 0.9
    e = det.explain_detail(x)
    assert e.detector == "range" and e.score > 0.99
    assert det.explain_detail(high - 0.1).detector == "ewma_level"  # inside the range


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
                                    {"likelihood_gain": -1.0}, {"likelihood_short": 0.0},
                                    {"likelihood_long": 1.0}])
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
