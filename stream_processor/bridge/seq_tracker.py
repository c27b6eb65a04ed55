"""Per-gateway sequence tracking: which seqs were seen, which are missing, which repeat.

One :class:`SeqTracker` per bridge, owned by the bridge's round loop (one
asyncio task at a time touches it; every method is synchronous, so no
locking). A *stream* is one gateway's data frames (``<site>/<gateway>/data``)
or its alarms (``<site>/<gateway>/alarm``), each with its own seq.

State per stream: the highest seq seen and a sorted list of *holes* (ranges
below it not seen yet). Everything else at or below the highest seq counts as
seen. After an outage the gateway sends live frames and its backlog
interleaved, each in seq order, so a hole opened by a live frame is filled
from the bottom up by the backlog:

- a seq above the highest opens a hole for the seqs skipped, due after
  ``gap_timeout_s`` (the backlog must start arriving by then);
- a seq inside a hole fills it; the part of the hole *below* it is then due
  after ``reorder_grace_s`` only, since the backlog comes in order (the grace
  covers the reordering between bridges of one share group);
- a seq at or below the highest and in no hole is a duplicate: dropped;
- a seq more than ``dedupe_window`` below the highest and in no hole means the
  gateway's seq went back (a re-installed gateway): tracking restarts there
  (``reset``), nothing is dropped.

A due hole is reported once (:meth:`due_gaps`) and kept, flagged, so a frame
arriving late in it is forwarded (``late``), not dropped. At most
``max_holes`` holes are kept per stream; beyond, the lowest is reported at once
and forgotten (a frame arriving there later is then taken for a duplicate).

Several bridges in one share group each see part of a gateway's seqs. They
exchange :meth:`snapshot` s (through the ``bridge-seq`` topic) and
:meth:`merge` them: the merged view's seen set is the union of both, so a
hole that another bridge filled closes here too. ``epoch`` counts resets: a
snapshot with a higher epoch replaces the state, a lower one is ignored.

>>> t = SeqTracker(gap_timeout_s=60, reorder_grace_s=5, dedupe_window=1000, max_holes=100)
>>> [t.observe("n/g/data", s, now_s=0.0) for s in (1, 2, 5, 2, 4)]
['first', 'new', 'new', 'duplicate', 'new']
>>> t.due_gaps(now_s=10.0)      # 3 is missing and 4 came after it, so only the grace applies
[('n/g/data', 3, 3)]
>>> t.observe("n/g/data", 3, now_s=11.0)
'late'
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Verdict", "SeqTracker"]

#: first: the stream's first seq here; new: forward; late: forward, it was reported missing;
#: reset: the seq went back past the window, forward; duplicate: drop.
Verdict = Literal["first", "new", "late", "reset", "duplicate"]


@dataclass(slots=True)
class _Hole:
    lo: int
    hi: int
    due_s: float
    reported: bool = False


@dataclass(slots=True)
class _Stream:
    high: int
    epoch: int = 0
    holes: list[_Hole] = field(default_factory=list)


class SeqTracker:
    """Seen/missing seqs per stream; see the module docstring for the rules."""

    def __init__(
        self, *, gap_timeout_s: float, reorder_grace_s: float, dedupe_window: int, max_holes: int
    ) -> None:
        self.gap_timeout_s = gap_timeout_s
        self.reorder_grace_s = reorder_grace_s
        self.dedupe_window = dedupe_window
        self.max_holes = max_holes
        self._streams: dict[str, _Stream] = {}
        self._forced: list[tuple[str, int, int]] = []

    def __contains__(self, key: str) -> bool:
        return key in self._streams

    def forget(self, key: str) -> None:
        """Drop everything known about ``key``; its next seq is a first one."""
        self._streams.pop(key, None)

    def high(self, key: str) -> int | None:
        stream = self._streams.get(key)
        return None if stream is None else stream.high

    def observe(self, key: str, seq: int, *, now_s: float) -> Verdict:
        """Record ``seq`` of stream ``key`` and say what to do with it."""
        stream = self._streams.get(key)
        if stream is None:
            self._streams[key] = _Stream(seq)
            return "first"
        if seq > stream.high:
            if seq > stream.high + 1:
                stream.holes.append(_Hole(stream.high + 1, seq - 1, now_s + self.gap_timeout_s))
                self._cap(key, stream)
            stream.high = seq
            return "new"
        i = bisect.bisect_right([h.lo for h in stream.holes], seq) - 1
        if i >= 0 and stream.holes[i].hi >= seq:
            hole = stream.holes[i]
            pieces = []
            if hole.lo < seq:
                due = hole.due_s if hole.reported else min(hole.due_s, now_s + self.reorder_grace_s)
                pieces.append(_Hole(hole.lo, seq - 1, due, hole.reported))
            if seq < hole.hi:
                pieces.append(_Hole(seq + 1, hole.hi, hole.due_s, hole.reported))
            stream.holes[i : i + 1] = pieces
            return "late" if hole.reported else "new"
        if stream.high - seq > self.dedupe_window:
            self._streams[key] = _Stream(seq, stream.epoch + 1)
            return "reset"
        return "duplicate"

    def due_gaps(self, *, now_s: float) -> list[tuple[str, int, int]]:
        """Holes due by ``now_s`` not reported yet, as ``(key, from_seq, to_seq)``; marks them reported."""
        due, self._forced = self._forced, []
        for key, stream in self._streams.items():
            for hole in stream.holes:
                if not hole.reported and hole.due_s <= now_s:
                    hole.reported = True
                    due.append((key, hole.lo, hole.hi))
            # Reported holes that far below the top can only be answered by a reset now.
            stream.holes = [h for h in stream.holes
                            if not h.reported or stream.high - h.hi <= self.dedupe_window]
        return due

    def snapshot(self, key: str) -> dict[str, Any]:
        """The stream's state as JSON-ready data (for :meth:`merge` elsewhere)."""
        s = self._streams[key]
        return {"high": s.high, "epoch": s.epoch,
                "holes": [[h.lo, h.hi, int(h.reported)] for h in s.holes]}

    def merge(self, key: str, snapshot: dict[str, Any], *, now_s: float) -> None:
        """Join another view of ``key`` into this one: seen = union of both.

        Holes new to this bridge (above its highest seq) are due after
        ``gap_timeout_s`` from now; holes the other side reported stay reported.
        """
        theirs = _Stream(int(snapshot["high"]), int(snapshot["epoch"]),
                         [_Hole(lo, hi, now_s + self.gap_timeout_s, bool(rep))
                          for lo, hi, rep in snapshot["holes"]])
        mine = self._streams.get(key)
        if mine is None or theirs.epoch > mine.epoch:
            self._streams[key] = theirs
            return
        if theirs.epoch < mine.epoch:
            return
        high = max(mine.high, theirs.high)
        a = _with_top(mine, high, now_s + self.gap_timeout_s)
        b = _with_top(theirs, high, now_s + self.gap_timeout_s)
        merged: list[_Hole] = []
        i = j = 0
        while i < len(a) and j < len(b):  # intersection of two sorted interval lists
            lo, hi = max(a[i].lo, b[j].lo), min(a[i].hi, b[j].hi)
            if lo <= hi:
                # Keep this bridge's deadline where it had the hole already.
                merged.append(_Hole(lo, hi, a[i].due_s, a[i].reported or b[j].reported))
            if a[i].hi < b[j].hi:
                i += 1
            else:
                j += 1
        mine.high = high
        mine.holes = merged
        self._cap(key, mine)

    def _cap(self, key: str, stream: _Stream) -> None:
        while len(stream.holes) > self.max_holes:
            hole = stream.holes.pop(0)
            if not hole.reported:
                self._forced.append((key, hole.lo, hole.hi))


def _with_top(stream: _Stream, high: int, due_s: float) -> list[_Hole]:
    """The stream's holes plus, as a hole, the seqs above its highest up to ``high``."""
    if high <= stream.high:
        return stream.holes
    return [*stream.holes, _Hole(stream.high + 1, high, due_s)]
