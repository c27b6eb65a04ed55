"""Checks every registered detector must pass; :mod:`test_detectors` runs them all.

Each check takes an unlearned detector and raises ``AssertionError`` with a
message naming the broken rule. They use a seeded noisy series with spikes so
that clipping, warm-up and scoring paths are all exercised.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import numpy as np

from stream_processor.detectors.base import Detector, DetectorBase, FloatArray

__all__ = ["CHECKS", "sample_series"]


def sample_series(size: int = 600, seed: int = 7) -> FloatArray:
    """A noisy level with a drift, a few spikes and a level shift."""
    rng = np.random.default_rng(seed)
    xs = 50.0 + 0.01 * np.arange(size) + rng.normal(0.0, 1.0, size)
    xs[[50, 120, 121, 300]] += [25.0, -30.0, 40.0, 100.0]
    xs[400:] += 15.0
    return xs


def _learned(det: DetectorBase, count: int = 200) -> DetectorBase:
    det.learn_many(sample_series()[:count])
    return det


def check_params_stored(det: DetectorBase) -> None:
    params = det.get_params()
    clone = det.clone()
    assert clone.get_params() == params, "clone() must rebuild the same parameters"
    assert type(clone)(**params).get_params() == params, "constructor args must be stored by name"


def check_score_before_learn(det: DetectorBase) -> None:
    for x in (0.0, 1e6, -3.5):
        s = det.score_one(x)
        assert 0.0 <= s <= 1.0, f"score before any learning must be in [0, 1], got {s}"
    e = det.explain_one(1.0)
    assert e.score == det.score_one(1.0)


def check_scores_in_unit_interval(det: DetectorBase) -> None:
    scores = det.explain_learn_many(sample_series()).score
    assert np.all((scores >= 0.0) & (scores <= 1.0)), "scores must lie in [0, 1]"
    assert np.all(np.isfinite(scores))


def check_scoring_is_pure(det: DetectorBase) -> None:
    _learned(det)
    before = pickle.dumps(det)
    det.score_one(1e9)
    det.explain_one(-1e9)
    det.score_many(sample_series()[:50])
    assert pickle.dumps(det) == before, "scoring must not change learned state"


def check_clone_is_unlearned(det: DetectorBase) -> None:
    fresh = det.clone()
    learned = _learned(det)
    assert pickle.dumps(learned.clone()) == pickle.dumps(fresh), "clone() must drop learned state"


def check_pickle_roundtrip(det: DetectorBase) -> None:
    learned = _learned(det)
    restored = pickle.loads(pickle.dumps(learned))
    xs = sample_series()[200:260]
    assert np.array_equal(restored.score_many(xs), learned.score_many(xs))


def check_no_aliasing_with_input(det: DetectorBase) -> None:
    xs = sample_series()[:100]
    original = xs.copy()
    det.learn_many(xs)
    state = pickle.dumps(det)
    xs[:] = 0.0
    assert pickle.dumps(det) == state, "learned state must not alias the input array"
    det.explain_learn_many(original)
    assert np.array_equal(original, sample_series()[:100]), "input must not be modified"


def check_learn_many_matches_learn_one(det: DetectorBase) -> None:
    one, many = det.clone(), det.clone()
    xs = sample_series()
    for x in xs.tolist():
        one.learn_one(x)
    many.learn_many(xs)
    probe = np.linspace(0.0, 200.0, 41)
    np.testing.assert_allclose(many.score_many(probe), one.score_many(probe), rtol=1e-7, atol=1e-9)


def check_score_many_matches_score_one(det: DetectorBase) -> None:
    _learned(det)
    probe = np.linspace(0.0, 200.0, 41)
    expected = [det.score_one(x) for x in probe.tolist()]
    np.testing.assert_allclose(det.score_many(probe), expected, rtol=1e-9, atol=1e-12)


def check_explain_learn_many_matches_loop(det: DetectorBase) -> None:
    one, many = det.clone(), det.clone()
    xs = sample_series()
    scores, lows, highs = [], [], []
    for x in xs.tolist():
        e = one.explain_one(x)
        scores.append(e.score)
        lows.append(np.nan if e.expected_low is None else e.expected_low)
        highs.append(np.nan if e.expected_high is None else e.expected_high)
        one.learn_one(x)
    batch = many.explain_learn_many(xs)
    np.testing.assert_allclose(batch.score, scores, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(batch.expected_low, lows, rtol=1e-7, equal_nan=True)
    np.testing.assert_allclose(batch.expected_high, highs, rtol=1e-7, equal_nan=True)
    assert batch.at(len(xs) - 1).expected_low is not None


def check_explain_learn_one_matches_the_pair(det: DetectorBase) -> None:
    fused, pair = det.clone(), det.clone()
    got, expected = [], []
    for x in sample_series().tolist():
        e = pair.explain_one(x)
        pair.learn_one(x)
        f = fused.explain_learn_one(x)
        got.append([f.score, np.nan if f.expected_low is None else f.expected_low])
        expected.append([e.score, np.nan if e.expected_low is None else e.expected_low])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
    probe = np.linspace(0.0, 200.0, 41)
    np.testing.assert_allclose(fused.score_many(probe), pair.score_many(probe), rtol=1e-9, atol=1e-12)


def check_is_a_detector(det: DetectorBase) -> None:
    assert isinstance(det, Detector)
    assert isinstance(copy.deepcopy(det), type(det))


#: name -> check; run against a fresh default instance of every registered detector.
CHECKS: dict[str, Callable[[DetectorBase], None]] = {
    f.__name__.removeprefix("check_"): f
    for f in (
        check_is_a_detector,
        check_params_stored,
        check_score_before_learn,
        check_scores_in_unit_interval,
        check_scoring_is_pure,
        check_clone_is_unlearned,
        check_pickle_roundtrip,
        check_no_aliasing_with_input,
        check_learn_many_matches_learn_one,
        check_score_many_matches_score_one,
        check_explain_learn_one_matches_the_pair,
        check_explain_learn_many_matches_loop,
    )
}
