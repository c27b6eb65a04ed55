"""Score detector results on NAB: the rules of NAB v1.1's ``nab/sweeper.py``, reimplemented.

    python -m bench.nab_score --results DIR --labels ../shared/nab/labels

``DIR/<corpus>/<file>.csv`` are the files ``python -m bench.nab`` writes
(``timestamp,value,anomaly_score,label``, one row per data row, in order).
Every file named in ``labels/combined_windows.json`` must be present. Prints
per-profile details, then as its last line::

    standard=<x> reward_low_FP_rate=<y> reward_low_FN_rate=<z>

The rules (see ``../shared/nab/README.md``):

* the first ``min(floor(0.15·N), 750)`` rows of a file are probationary and
  are not scored;
* a row is a detection when ``anomaly_score >= threshold``; in a window only
  the earliest detection counts, for ``A_TP·s(y)/s(-1)`` with
  ``s(y) = 2/(1+exp(5y)) - 1`` and ``y = -(right - i + 1)/width``; a window
  without detection costs ``-A_FN``;
* a detection outside every window adds ``A_FP·s(y)`` with
  ``y = |i - prevRight|/(prevWidth - 1)`` (``s = -1`` from ``y >= 3``), or
  ``-A_FP`` when no window precedes it;
* each profile gets the one threshold that maximises the score summed over
  all files; the score is normalised as ``100·(S - S_null)/(S_perfect - S_null)``
  with ``S_null = -W·A_FN`` and ``S_perfect = W·A_TP`` over the ``W`` scored windows.

Windows are located the way NAB does it: a window opens at the first row whose
timestamp equals its start and closes after the row whose timestamp equals its
end; its right index is the first row with the end timestamp.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np

__all__ = [
    "PROFILES",
    "Profile",
    "LabelledFile",
    "ProfileResult",
    "label_rows",
    "probationary_length",
    "scaled_sigmoid",
    "score_corpus",
    "load_results",
    "main",
    "parse_timestamp",
]

_PROBATION_FRACTION: Final = 0.15
_PROBATION_MAX_ROWS: Final = 750


class Profile(NamedTuple):
    """NAB's application profile: weights of a true positive, false positive, false negative."""

    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: Final[dict[str, Profile]] = {
    "standard": Profile(1.0, 0.11, 1.0),
    "reward_low_FP_rate": Profile(1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile(1.0, 0.11, 2.0),
}


def parse_timestamp(text: str) -> datetime:
    """NAB's ``YYYY-MM-DD HH:MM:SS`` (data) or ``... .ffffff`` (labels) timestamps."""
    return datetime.fromisoformat(text.strip())


def scaled_sigmoid(y: float) -> float:
    """NAB's ``s(y) = 2/(1+exp(5y)) - 1``, and ``-1`` from ``y >= 3``."""
    if y >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probationary_length(rows: int) -> int:
    """Rows at the start of a file that are not scored."""
    return int(min(math.floor(_PROBATION_FRACTION * rows), _PROBATION_MAX_ROWS))


@dataclass(frozen=True, slots=True)
class LabelledFile:
    """One file's scorable rows: score, window index (-1 outside) and the unweighted sweep value.

    ``unweighted`` is ``s(y)/s(-1)`` inside a window (multiplied by ``A_TP``) and
    ``s(y)`` outside (multiplied by ``A_FP``), so it does not depend on the profile.
    """

    scores: np.ndarray
    window: np.ndarray
    unweighted: np.ndarray
    windows: int


def label_rows(timestamps: Sequence[datetime], windows: Sequence[tuple[datetime, datetime]]) -> LabelledFile:
    """The sweep values of every row (scores left at 0); probationary rows are dropped."""
    ts = list(timestamps)
    pending = list(windows)
    max_tp = scaled_sigmoid(-1.0)
    window = np.full(len(ts), -1, dtype=np.int64)
    unweighted = np.empty(len(ts))
    current: tuple[datetime, datetime] | None = None
    current_id = -1
    right = width = 0.0
    prev_right: int | None = None
    prev_width = 0.0
    opened = 0
    for i, t in enumerate(ts):
        if pending and t == pending[0][0]:
            current = pending.pop(0)
            current_id = opened
            opened += 1
            right = float(ts.index(current[1]))
            width = right - ts.index(current[0]) + 1.0
        if current is not None:
            window[i] = current_id
            unweighted[i] = scaled_sigmoid(-(right - i + 1.0) / width) / max_tp
        elif prev_right is None:
            unweighted[i] = scaled_sigmoid(3.0)
        else:
            unweighted[i] = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1.0))
        if current is not None and t == current[1]:
            prev_right, prev_width = i, width
            current = None
    start = probationary_length(len(ts))
    scored_windows = np.unique(window[start:][window[start:] >= 0])
    # Renumber so that only windows with scorable rows count.
    renumber = {int(w): k for k, w in enumerate(scored_windows.tolist())}
    win = np.array([renumber.get(int(w), -1) for w in window[start:].tolist()], dtype=np.int64)
    return LabelledFile(np.zeros(len(ts) - start), win, unweighted[start:].copy(), len(renumber))


class ProfileResult(NamedTuple):
    """The best threshold of one profile and what it scores."""

    score: float
    threshold: float
    raw: float
    tp: int
    fp: int
    fn: int


def score_corpus(files: Sequence[LabelledFile], profile: Profile) -> ProfileResult:
    """Sweep the threshold over every distinct score of the corpus; keep the best normalised score."""
    scores = np.concatenate([f.scores for f in files]) if files else np.zeros(0)
    offsets = np.cumsum([0] + [f.windows for f in files])
    window = np.concatenate(
        [np.where(f.window >= 0, f.window + off, -1) for f, off in zip(files, offsets[:-1], strict=True)]
    ) if files else np.zeros(0, dtype=np.int64)
    unweighted = np.concatenate([f.unweighted for f in files]) if files else np.zeros(0)
    total_windows = int(offsets[-1])
    null = -total_windows * profile.a_fn
    perfect = total_windows * profile.a_tp
    order = np.argsort(-scores, kind="stable")
    best_part = np.full(total_windows, -profile.a_fn)
    fp_sum = 0.0
    win_sum = float(null)
    tp_windows = fp = 0
    best = ProfileResult(0.0, 1.1, null, 0, 0, total_windows)
    sorted_scores = scores[order].tolist()
    sorted_window = window[order].tolist()
    sorted_unweighted = unweighted[order].tolist()
    count = len(sorted_scores)
    for k in range(count):
        w = sorted_window[k]
        if w < 0:
            fp_sum += profile.a_fp * sorted_unweighted[k]
            fp += 1
        else:
            value = profile.a_tp * sorted_unweighted[k]
            old = best_part[w]
            if old == -profile.a_fn:
                tp_windows += 1
            if value > old:
                best_part[w] = value
                win_sum += value - old
        if k + 1 == count or sorted_scores[k + 1] != sorted_scores[k]:
            raw = fp_sum + win_sum
            if raw > best.raw:
                best = ProfileResult(0.0, sorted_scores[k], raw, tp_windows, fp, total_windows - tp_windows)
    span = perfect - null
    normalised = 100.0 * (best.raw - null) / span if span > 0 else 0.0
    return best._replace(score=normalised)


def _windows(labels_dir: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    raw = json.loads((labels_dir / "combined_windows.json").read_text())
    return {
        name: [(parse_timestamp(a), parse_timestamp(b)) for a, b in spans] for name, spans in raw.items()
    }


def load_results(results_dir: Path, labels_dir: Path) -> dict[str, LabelledFile]:
    """Every labelled file's result CSV, labelled; a missing file or a bad row raises ``ValueError``."""
    out: dict[str, LabelledFile] = {}
    for name, spans in sorted(_windows(labels_dir).items()):
        path = results_dir / name
        if not path.is_file():
            raise ValueError(f"{path}: missing result file")
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            ts: list[datetime] = []
            scores: list[float] = []
            for row in reader:
                try:
                    ts.append(parse_timestamp(row["timestamp"]))
                    scores.append(float(row["anomaly_score"]))
                except (KeyError, ValueError) as exc:
                    raise ValueError(f"{path}:{reader.line_num}: bad row {row}: {exc}") from exc
        labelled = label_rows(ts, spans)
        start = len(ts) - labelled.scores.shape[0]
        out[name] = LabelledFile(
            np.array(scores[start:]), labelled.window, labelled.unweighted, labelled.windows
        )
    return out


def score_all(files: Mapping[str, LabelledFile]) -> dict[str, ProfileResult]:
    """Every profile's result over ``files``."""
    listed = [files[name] for name in sorted(files)]
    return {name: score_corpus(listed, profile) for name, profile in PROFILES.items()}


def format_scores(results: Mapping[str, ProfileResult]) -> str:
    """The ``standard=… reward_low_FP_rate=… reward_low_FN_rate=…`` line."""
    return " ".join(f"{name}={results[name].score:.2f}" for name in PROFILES)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.nab_score", description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, required=True, help="directory of <corpus>/<file>.csv")
    parser.add_argument("--labels", type=Path, required=True, help="NAB labels directory")
    args = parser.parse_args(argv)
    results = score_all(load_results(args.results, args.labels))
    for name, r in results.items():
        print(f"{name}: score={r.score:.2f} threshold={r.threshold:.6g} raw={r.raw:.3f} "
              f"windows_detected={r.tp} windows_missed={r.fn} false_positive_rows={r.fp}")
    print(format_scores(results))


if __name__ == "__main__":
    main()
