"""The NAB scorer (bench.nab_score) on small cases computed by hand."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from bench.nab_score import (
    PROFILES,
    LabelledFile,
    label_rows,
    probationary_length,
    scaled_sigmoid,
    score_corpus,
)

T0 = datetime(2014, 4, 1)
ROWS = 100  # probation: 15 rows
LEFT, RIGHT = 50, 59  # one window, width 10


def _ts(n: int = ROWS) -> list[datetime]:
    return [T0 + timedelta(minutes=5 * i) for i in range(n)]


def _file(detections: dict[int, float], windows: list[tuple[int, int]] | None = None) -> LabelledFile:
    ts = _ts()
    spans = [(ts[a], ts[b]) for a, b in ([(LEFT, RIGHT)] if windows is None else windows)]
    labelled = label_rows(ts, spans)
    scores = np.zeros(ROWS)
    for i, s in detections.items():
        scores[i] = s
    start = probationary_length(ROWS)
    return LabelledFile(scores[start:], labelled.window, labelled.unweighted, labelled.windows)


def _standard(*files: LabelledFile) -> float:
    return float(score_corpus(list(files), PROFILES["standard"]).score)


def test_sigmoid_and_probation() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.0) == -1.0
    assert probationary_length(100) == 15 and probationary_length(10_000) == 750


def test_perfect_detector_scores_100_and_null_detector_0() -> None:
    for profile in PROFILES.values():
        assert score_corpus([_file({LEFT: 1.0})], profile).score == pytest.approx(100.0)
        assert score_corpus([_file({})], profile).score == pytest.approx(0.0)


def test_left_edge_earns_a_tp_and_later_detections_less() -> None:
    f = _file({})
    start = probationary_length(ROWS)
    assert f.unweighted[LEFT - start] == pytest.approx(1.0)  # s(-1)/s(-1): exactly A_TP
    right = scaled_sigmoid(-1.0 / 10) / scaled_sigmoid(-1.0)
    assert f.unweighted[RIGHT - start] == pytest.approx(right)
    # Only the earliest detection in the window counts: raw = A_TP * s(y_55)/s(-1).
    y = -(RIGHT - 55 + 1) / 10
    raw = scaled_sigmoid(y) / scaled_sigmoid(-1.0)
    assert _standard(_file({55: 0.9, 57: 0.9})) == pytest.approx(100 * (raw + 1) / 2)


def test_false_positive_before_any_window_costs_a_fp() -> None:
    f = _file({20: 1.0, LEFT: 1.0})
    assert f.unweighted[20 - probationary_length(ROWS)] == -1.0
    # threshold 1.0 takes both: 1 - 0.11; normalised over S_null=-1, S_perfect=1.
    assert _standard(f) == pytest.approx(100 * (1.0 - 0.11 + 1.0) / 2)
    low_fp = score_corpus([f], PROFILES["reward_low_FP_rate"]).score
    assert low_fp == pytest.approx(100 * (1.0 - 0.22 + 1.0) / 2)


def test_false_positive_after_a_window_is_weighted_by_distance() -> None:
    k = 5
    f = _file({LEFT: 1.0, RIGHT + k: 1.0})
    y = k / (10 - 1)  # |i - prevRight| / (prevWidth - 1)
    assert _standard(f) == pytest.approx(100 * (1.0 + 0.11 * scaled_sigmoid(y) + 1.0) / 2)
    far = _file({LEFT: 1.0, RIGHT + 30: 1.0})  # y > 3: a full -A_FP
    assert _standard(far) == pytest.approx(100 * (1.0 - 0.11 + 1.0) / 2)


def test_probationary_rows_are_not_scored_and_threshold_is_optimised() -> None:
    # A high score in probation is ignored; the lower-scored TP is found by the sweep.
    assert _standard(_file({3: 1.0, LEFT: 0.4})) == pytest.approx(100.0)
    # Two files, one threshold: a FP scoring above one file's TP is included with it.
    a = _file({LEFT: 0.5})
    b = _file({30: 0.7, LEFT: 0.9})
    expected = 100 * ((2.0 - 0.11) + 2.0) / 4  # both windows at 0.5, paying b's FP
    assert _standard(a, b) == pytest.approx(expected)


def test_missed_window_costs_a_fn_per_profile() -> None:
    two = _file({LEFT: 1.0}, windows=[(30, 39), (LEFT, RIGHT)])
    # S = 1 (second window) - A_FN (first), S_null = -2 A_FN, S_perfect = 2.
    for profile in PROFILES.values():
        null = -2 * profile.a_fn
        assert score_corpus([two], profile).score == pytest.approx(
            100 * (1.0 - profile.a_fn - null) / (2.0 - null)
        )
    assert math.isclose(score_corpus([two], PROFILES["reward_low_FN_rate"]).score, 100 * 3 / 6)
