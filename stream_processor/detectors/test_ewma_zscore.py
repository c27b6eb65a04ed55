"""EWMA z-score specifics: warm-up, score curve, robustness to spikes, batch equality."""

from __future__ import annotations

import numpy as np
import pytest

from parkwatch.errors import ConfigError
from stream_processor.detectors import EWMAZScore, create_detector


def _noise(size: int, seed: int = 3) -> np.ndarray:
    return 12.5 + np.random.default_rng(seed).normal(0.0, 0.5, size)


def test_warmup_scores_zero_and_gives_no_band() -> None:
    det = EWMAZScore(warmup=10)
    for x in _noise(9).tolist():
        assert det.explain_one(x) == (0.0, None, None)
        det.learn_one(x)
    det.learn_one(12.5)
    assert det.explain_one(1000.0).score > 0.999


def test_score_curve_in_z() -> None:
    det = EWMAZScore(warmup=2, alpha=0.5, min_rel_std=0.0)
    det.n, det.mean, det.var = 100, 0.0, 1.0
    assert det.score_one(3.0) == pytest.approx(0.0474, abs=1e-3)
    assert det.score_one(4.5) == pytest.approx(0.5)
    assert det.score_one(-5.6) == pytest.approx(0.9, abs=0.01)
    assert det.score_one(6.8) > 0.99
    assert det.score_one(1e300) == 1.0


def test_a_spike_barely_moves_the_model() -> None:
    det = EWMAZScore()
    det.learn_many(_noise(300))
    mean, var = det.mean, det.var
    assert det.score_one(90.0) > 0.999
    det.learn_one(90.0)
    assert abs(det.mean - mean) <= det.alpha * det.clip_z * np.sqrt(var) + 1e-9
    assert det.score_one(90.0) > 0.999, "one spike must not teach the model that spikes are normal"
    assert det.score_one(12.5) < 0.01


def test_a_level_shift_is_adopted() -> None:
    det = EWMAZScore()
    det.learn_many(_noise(300))
    shifted = _noise(400, seed=4) + 10.0
    scores = det.explain_learn_many(shifted).score
    assert scores[0] > 0.99
    assert np.all(scores[-100:] < 0.5)


def test_batches_equal_the_loop_on_long_noisy_runs() -> None:
    xs = _noise(20_000, seed=9)
    xs[::997] += 40.0
    one, many = EWMAZScore(), EWMAZScore()
    expected = []
    for x in xs.tolist():
        expected.append(one.score_one(x))
        one.learn_one(x)
    got = np.concatenate([many.explain_learn_many(part).score for part in np.array_split(xs, 37)])
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)
    assert (many.n, many.mean) == (one.n, pytest.approx(one.mean, rel=1e-9))


def test_large_offsets_keep_precision() -> None:
    xs = 1e7 + _noise(3000)
    one, many = EWMAZScore(), EWMAZScore()
    for x in xs.tolist():
        one.learn_one(x)
    many.learn_many(xs)
    assert many.var == pytest.approx(one.var, rel=1e-6)


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        create_detector("ewma_zscore", {"alpha": 2.0})
    with pytest.raises(ConfigError, match="known detectors: .*ewma_zscore, .*river_sad"):
        create_detector("nope")
