"""Seq tracking: duplicates, holes filled by an interleaved backlog, gaps, resets, merging views."""

from __future__ import annotations

import random

from stream_processor.bridge.seq_tracker import SeqTracker

K = "north/gw-01/data"


def _tracker(**overrides: float) -> SeqTracker:
    params = {"gap_timeout_s": 60.0, "reorder_grace_s": 5.0, "dedupe_window": 1000, "max_holes": 100}
    params.update(overrides)
    return SeqTracker(**params)  # type: ignore[arg-type]


def test_repeats_are_duplicates_and_the_first_seq_opens_no_gap() -> None:
    t = _tracker()
    assert [t.observe(K, s, now_s=0) for s in (40, 41, 41, 40, 42)] == [
        "first", "new", "duplicate", "duplicate", "new"]
    assert t.due_gaps(now_s=1e9) == []


def test_backlog_interleaved_with_live_frames_is_no_gap_and_no_duplicate() -> None:
    t = _tracker()
    for s in range(1, 11):
        t.observe(K, s, now_s=0)
    # outage: seqs 11..50 wait in the outbox; live frames 51.. arrive first, then both interleave
    live, backlog = list(range(51, 81)), list(range(11, 51))
    verdicts = []
    now = 1.0
    while live or backlog:
        for queue in (live, backlog):
            if queue:
                verdicts.append(t.observe(K, queue.pop(0), now_s=now))
        now += 0.5
        assert t.due_gaps(now_s=now) == []
    assert set(verdicts) == {"new"}
    assert [t.observe(K, s, now_s=now) for s in (11, 50, 80)] == ["duplicate"] * 3


def test_seqs_the_backlog_skipped_are_a_gap_after_the_grace_the_rest_after_the_timeout() -> None:
    t = _tracker()
    t.observe(K, 10, now_s=0)
    t.observe(K, 100, now_s=0)           # hole 11..99
    t.observe(K, 30, now_s=1)            # the outbox dropped 11..29: backlog starts at 30
    assert t.due_gaps(now_s=5.9) == []
    assert t.due_gaps(now_s=6.0) == [(K, 11, 29)]
    assert t.due_gaps(now_s=7.0) == []   # reported once
    assert t.observe(K, 12, now_s=8) == "late"
    assert t.observe(K, 12, now_s=8) == "duplicate"
    assert t.due_gaps(now_s=60.0) == [(K, 31, 99)]


def test_a_seq_far_below_the_highest_is_a_reset() -> None:
    t = _tracker(dedupe_window=100)
    t.observe(K, 5000, now_s=0)
    assert t.observe(K, 4950, now_s=0) == "duplicate"
    assert t.observe(K, 1, now_s=0) == "reset"
    assert [t.observe(K, s, now_s=0) for s in (2, 3, 2)] == ["new", "new", "duplicate"]


def test_holes_beyond_the_cap_are_reported_at_once() -> None:
    t = _tracker(max_holes=2)
    for s in (1, 3, 5, 7):
        t.observe(K, s, now_s=0)
    assert t.due_gaps(now_s=0) == [(K, 2, 2)]


def test_two_bridges_each_seeing_half_merge_into_one_complete_view() -> None:
    a, b = _tracker(), _tracker()
    seqs = list(range(1, 201))
    random.Random(4).shuffle(seqs[20:])  # some reordering between the two halves
    for i, s in enumerate(seqs):
        (a if i % 2 else b).observe(K, s, now_s=0)
        if i % 7 == 0:  # snapshots cross now and then
            a.merge(K, b.snapshot(K), now_s=0)
            b.merge(K, a.snapshot(K), now_s=0)
    a.merge(K, b.snapshot(K), now_s=0)
    b.merge(K, a.snapshot(K), now_s=0)
    assert a.snapshot(K) == b.snapshot(K) == {"high": 200, "epoch": 0, "holes": []}
    assert a.due_gaps(now_s=1e9) == b.due_gaps(now_s=1e9) == []
    assert a.observe(K, 17, now_s=0) == "duplicate"


def test_merge_keeps_real_holes_and_their_reported_flag() -> None:
    a, b = _tracker(), _tracker()
    for s in (1, 2, 10):
        a.observe(K, s, now_s=0)
    for s in (1, 3, 4):
        b.observe(K, s, now_s=0)
    a.due_gaps(now_s=100)  # reports 3..9
    b.merge(K, a.snapshot(K), now_s=0)
    assert b.snapshot(K) == {"high": 10, "epoch": 0, "holes": [[5, 9, 1]]}
    assert b.observe(K, 6, now_s=1) == "late"
    a.merge(K, b.snapshot(K), now_s=0)
    assert a.snapshot(K)["holes"] == [[5, 5, 1], [7, 9, 1]]


def test_a_restarted_bridge_loading_its_snapshot_drops_redelivered_frames() -> None:
    before, after = _tracker(), _tracker()
    for s in range(1, 51):
        before.observe(K, s, now_s=0)
    after.merge(K, before.snapshot(K), now_s=0)
    assert after.observe(K, 50, now_s=0) == "duplicate"
    assert after.observe(K, 51, now_s=0) == "new"
    assert after.due_gaps(now_s=1e9) == []


def test_a_forgotten_stream_starts_afresh() -> None:
    t = _tracker()
    t.observe(K, 500, now_s=0)
    t.forget(K)
    assert [t.observe(K, s, now_s=0) for s in (1, 2)] == ["first", "new"]
