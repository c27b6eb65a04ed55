"""bench.nab on a tiny synthetic NAB-shaped dataset: files, rows, order, replays, last line."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bench import nab, nab_score
from stream_processor.config import ProcessorConfig

T0 = datetime(2015, 9, 1, 11, 30)


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        w.writerows(rows)


def _series(n: int, seed: int, spike_at: int | None = None) -> list[float]:
    rng = np.random.default_rng(seed)
    xs = 20.0 + rng.normal(0.0, 1.0, n)
    if spike_at is not None:
        xs[spike_at] += 40.0
    return [round(float(x), 4) for x in xs]


@pytest.fixture()
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    data, labels = tmp_path / "data", tmp_path / "labels"
    stamps = [(T0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(120)]
    a_values = _series(120, 1, spike_at=90)
    a_rows = [(t, repr(v)) for t, v in zip(stamps, a_values, strict=True)]
    a_rows.insert(61, a_rows[60])  # a repeated timestamp, as NAB has
    _write(data / "corpusA" / "one.csv", a_rows)
    b_rows = [(t, repr(v)) for t, v in zip(stamps[:80], _series(80, 2), strict=True)]
    _write(data / "corpusB" / "two.csv", b_rows)
    labels.mkdir()
    windows = {
        "corpusA/one.csv": [[stamps[85] + ".000000", stamps[95] + ".000000"]],
        "corpusB/two.csv": [],
    }
    (labels / "combined_windows.json").write_text(json.dumps(windows))
    return data, labels


def test_runner_writes_one_row_per_data_row(
    dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, labels = dataset
    out = tmp_path / "out"
    nab.main(["--data", str(data), "--out", str(out), "--labels", str(labels)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = dict(item.split("=", 1) for item in last.split())
    assert figures["files"] == "2" and figures["rows"] == str(121 + 80)
    wanted = {"seconds", "readings_per_s", "standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert wanted <= set(figures)
    for name, source in (("corpusA/one.csv", data / "corpusA" / "one.csv"),
                         ("corpusB/two.csv", data / "corpusB" / "two.csv")):
        with (out / name).open() as fh:
            rows = list(csv.reader(fh))
        with source.open() as fh:
            given = list(csv.reader(fh))
        assert rows[0] == ["timestamp", "value", "anomaly_score", "label"]
        assert [r[:2] for r in rows[1:]] == given[1:]  # same rows, same order, verbatim
        scores = [float(r[2]) for r in rows[1:]]
        assert all(0.0 <= s <= 1.0 for s in scores) and {r[3] for r in rows[1:]} == {"0"}
    one = [float(r[2]) for r in list(csv.reader((out / "corpusA/one.csv").open()))[1:]]
    assert one[61] == 0.0  # the replayed timestamp: stored unscored, not learned
    # The production detector, one pass over the rows the worker scores, gives the same scores.
    kept = _series(120, 1, spike_at=90)
    expected = ProcessorConfig().detector.create().explain_learn_many(kept).score
    np.testing.assert_allclose(one[:61] + one[62:], expected, rtol=1e-12)
    assert int(np.argmax(one)) == 91  # the spike (shifted by the repeated row)


def test_runner_can_swap_the_detector_and_batch_records(dataset: tuple[Path, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data, labels = dataset
    nab.main(["--data", str(data), "--out", str(tmp_path / "a"), "--detector", "ensemble"])
    nab.main(["--data", str(data), "--out", str(tmp_path / "b"), "--detector", "ensemble",
              "--record-readings", "50"])
    assert "detector=ensemble" in capsys.readouterr().out
    for name in ("corpusA/one.csv", "corpusB/two.csv"):
        a = [float(r[2]) for r in list(csv.reader((tmp_path / "a" / name).open()))[1:]]
        b = [float(r[2]) for r in list(csv.reader((tmp_path / "b" / name).open()))[1:]]
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_scorer_cli_prints_the_three_profiles_last(
    dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, labels = dataset
    nab.main(["--data", str(data), "--out", str(tmp_path / "out"), "--detector", "ensemble"])
    capsys.readouterr()
    nab_score.main(["--results", str(tmp_path / "out"), "--labels", str(labels)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"standard=[-\d.]+ reward_low_FP_rate=[-\d.]+ reward_low_FN_rate=[-\d.]+", last)
    assert float(last.split()[0].split("=")[1]) > 50.0  # the spike inside the window is found


def test_scorer_rejects_missing_results(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    _, labels = dataset
    with pytest.raises(ValueError, match="missing result file"):
        nab_score.load_results(tmp_path / "nothing", labels)
