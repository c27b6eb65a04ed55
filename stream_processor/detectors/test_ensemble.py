"""The combined detector: which part fired, its band, repeat suppression, configuration errors."""

from __future__ import annotations

import pickle

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
