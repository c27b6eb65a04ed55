"""NAB through the production scoring path: one CSV of anomaly scores per series.

    python -m bench.nab --data ../shared/nab/data --out DIR [--labels ../shared/nab/labels]
                        [--config processor.yaml] [--detector NAME] [--record-readings 1]

Each ``<data>/<corpus>/<file>.csv`` (``timestamp,value``) is streamed, in file
order, through :class:`stream_processor.scoring.RecordScorer`, the function the
worker runs on every device record, with the worker's configuration (the
defaults of :class:`~stream_processor.config.ProcessorConfig`, or ``--config``;
``--detector NAME`` swaps in another registered detector with its default
parameters):
one device state per series, a fresh unlearned detector, one pass, online, no
look-ahead, the same configuration for every series. The score of a row is the
``score`` field of the InfluxDB line the worker would store for it.

A row whose timestamp is not after the series' last scored one (NAB repeats
some timestamps) is what the worker calls a replay: stored unscored and not
learned; its ``anomaly_score`` is written as 0.

Writes ``<out>/<corpus>/<file>.csv`` with ``timestamp,value,anomaly_score,label``
(label 0), one row per data row in order. The last line printed is
``files=… rows=… seconds=… readings_per_s=…`` and, with ``--labels``, the three
NAB profile scores (:mod:`bench.nab_score`).
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

from bench.nab_score import format_scores, load_results, parse_timestamp, score_all
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from stream_processor.config import DetectorConfig, ProcessorConfig
from stream_processor.config_files import load_model
from stream_processor.device_state import DeviceState
from stream_processor.scoring import RecordScorer

__all__ = ["score_series", "run", "main"]

_POINT = "value"


def _score_of(line: str) -> float:
    """The score field of a reading line; 0 when the worker stored it unscored."""
    at = line.find(",score=")
    if at < 0:
        return 0.0
    return float(line[at + 7 : line.rindex(" ")])


def score_series(
    scorer: RecordScorer, device: str, timestamps: Sequence[str], values: Sequence[float], per_record: int = 1
) -> list[float]:
    """Stream one series through ``scorer`` in records of ``per_record`` readings; one score per row."""
    state = DeviceState()
    scores: list[float] = []
    ts_ms = [int(parse_timestamp(t).replace(tzinfo=UTC).timestamp() * 1000) for t in timestamps]
    last = -1
    for seq, start in enumerate(range(0, len(values), per_record)):
        readings = [
            Reading(_POINT, ts_ms[i], float(values[i]), "good")
            for i in range(start, min(start + per_record, len(values)))
        ]
        result = scorer.process(DeviceRecord("nab", "bench", device, seq, readings), state)
        # The worker writes a record's unscored lines first, then the scored ones in order;
        # a reading is scored when it is newer than every reading scored before it.
        scored = iter([_score_of(line) for line in result.lines if line.startswith("reading,")
                       and ",score=" in line])
        for r in readings:
            if r.ts_ms > last:
                scores.append(next(scored))
                last = r.ts_ms
            else:
                scores.append(0.0)
    if len(scores) != len(values):
        raise RuntimeError(f"{device}: {len(scores)} scores for {len(values)} rows")
    return scores


def _read(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise ValueError(f"{path}: expected header timestamp,value, got {header}")
        rows = [row for row in reader if row]
    return [r[0] for r in rows], [r[1] for r in rows]


def run(data: Path, out: Path, config: ProcessorConfig, per_record: int = 1) -> tuple[int, int, float]:
    """Score every series under ``data`` into ``out``; returns files, rows and seconds spent scoring."""
    files = sorted(data.glob("*/*.csv"))
    if not files:
        raise ValueError(f"{data}: no <corpus>/<file>.csv found")
    scorer = RecordScorer(config)
    rows = 0
    seconds = 0.0
    for path in files:
        timestamps, raw_values = _read(path)
        values = [float(v) for v in raw_values]
        started = time.perf_counter()
        scores = score_series(scorer, path.stem, timestamps, values, per_record)
        seconds += time.perf_counter() - started
        target = out / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["timestamp", "value", "anomaly_score", "label"])
            for t, v, s in zip(timestamps, raw_values, scores, strict=True):
                writer.writerow([t, v, repr(s), 0])
        rows += len(values)
    return len(files), rows, seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.nab", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="NAB data directory (<corpus>/<file>.csv)")
    parser.add_argument("--out", type=Path, required=True, help="where <corpus>/<file>.csv results go")
    parser.add_argument("--labels", type=Path, default=None, help="NAB labels directory: also score")
    parser.add_argument("--config", type=Path, default=None, help="worker YAML (default: built-in defaults)")
    parser.add_argument("--detector", default=None,
                        help="registered detector to use instead of the configured one (its defaults)")
    parser.add_argument("--record-readings", type=int, default=1,
                        help="readings per device record (1: one reading at a time, like a live feed)")
    args = parser.parse_args(argv)
    config = load_model(ProcessorConfig, args.config)
    if args.detector is not None:
        config = config.model_copy(update={"detector": DetectorConfig(name=args.detector)})
    started = time.perf_counter()
    files, rows, scoring_s = run(args.data, args.out, config, max(1, args.record_readings))
    total_s = time.perf_counter() - started
    line = (f"files={files} rows={rows} seconds={total_s:.2f} scoring_seconds={scoring_s:.2f} "
            f"readings_per_s={rows / scoring_s:.0f} detector={config.detector.name}")
    if args.labels is not None:
        line += " " + format_scores(score_all(load_results(args.out, args.labels)))
    print(line)


if __name__ == "__main__":
    main()
