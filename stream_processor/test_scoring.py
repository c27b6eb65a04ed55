"""Scoring records and the alert lifecycle, without Faust or services."""

from __future__ import annotations

import random

import pytest

from parkwatch.errors import ConfigError
from parkwatch.wire.alerts import alert_id
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from stream_processor.config import AlertConfig, DetectorConfig, ProcessorConfig
from stream_processor.config_files import validate_model
from stream_processor.device_state import DeviceState
from stream_processor.scoring import RecordScorer
from stream_processor.tables import DeviceStateCodec

T0 = 1764189600000
#: The alert-lifecycle tests pin the simplest detector, so they test the lifecycle, not the detector.
EWMA = DetectorConfig(name="ewma_zscore")


def _series(n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [12.5 + rng.gauss(0.0, 0.5) for _ in range(n)]


def _record(values: list[float], start: int = 0, point: str = "ch4", quality: str = "good") -> DeviceRecord:
    readings = [Reading(point, T0 + (start + i) * 1000, v, quality) for i, v in enumerate(values)]
    return DeviceRecord("north", "gw-01", "gas-01", start, readings)


def _run(scorer: RecordScorer, state: DeviceState, values: list[float], per_record: int):
    """Feed values in records of ``per_record`` readings; return all scores and alert events."""
    scores, alerts = [], []
    for start in range(0, len(values), per_record):
        result = scorer.process(_record(values[start : start + per_record], start), state)
        scores += [float(line.split("score=")[1].split()[0]) for line in result.lines
                   if line.startswith("reading")]
        alerts += result.alerts
    return scores, alerts


def test_spike_opens_one_alert_and_normal_readings_resolve_it() -> None:
    values = _series(30) + [90.0, 91.0] + _series(12, seed=2)
    scorer = RecordScorer(ProcessorConfig(detector=EWMA, alerts=AlertConfig(clear_after=10)))
    scores, alerts = _run(scorer, DeviceState(), values, per_record=1)
    assert scores[30] > 0.99 and scores[31] > 0.99
    assert max(scores[:30] + scores[32:]) < 0.5
    assert [(a.state, a.severity) for a in alerts] == [("open", "critical"), ("resolved", "critical")]
    open_, resolved = alerts
    expected_id = alert_id("north", "gw-01", "gas-01", "ch4", "anomaly_score", T0 + 30_000)
    assert open_.id == resolved.id == expected_id
    assert (open_.started_ms, open_.updated_ms, open_.value) == (T0 + 30_000, T0 + 30_000, 90.0)
    assert open_.expected_low is not None and open_.expected_low < 12.5 < open_.expected_high
    assert resolved.updated_ms == T0 + 41_000  # the 10th normal reading after the last spike


def test_batched_records_score_like_single_readings() -> None:
    values = _series(200) + [60.0] + _series(100, seed=5)
    config = ProcessorConfig(vector_min_readings=16)
    one = _run(RecordScorer(config), DeviceState(), values, per_record=1)
    many = _run(RecordScorer(config), DeviceState(), values, per_record=100)
    assert many[0] == pytest.approx(one[0], rel=1e-6, abs=1e-9)
    assert [(a.state, a.id) for a in many[1]] == [(a.state, a.id) for a in one[1]]


def test_not_good_and_repeated_readings_are_stored_unscored() -> None:
    scorer = RecordScorer(ProcessorConfig(detector=EWMA))
    state = DeviceState()
    scorer.process(_record(_series(5)), state)
    again = scorer.process(_record(_series(5)), state)  # a replay of the same record
    bad = scorer.process(_record([99.0], start=5, quality="bad"), state)
    assert again.scored == 0 and len(again.lines) == 5
    assert all("score=" not in line for line in again.lines + bad.lines)
    assert state.points["ch4"].detector.n == 5  # type: ignore[attr-defined]


def test_an_anomaly_alone_does_not_resolve_or_reopen() -> None:
    scorer = RecordScorer(ProcessorConfig(detector=EWMA, alerts=AlertConfig(clear_after=3)))
    values = _series(30) + [90.0] + _series(2, seed=3) + [95.0] + _series(2, seed=4)
    _, alerts = _run(scorer, DeviceState(), values, per_record=1)
    assert [a.state for a in alerts] == ["open"], "the second spike restarts the clear count"


@pytest.mark.parametrize(("gap", "same_incident"), [(60, True), (700, False)])
def test_firing_again_soon_after_resolving_reopens_the_same_alert(gap: int, same_incident: bool) -> None:
    alerts_config = AlertConfig.model_validate({"clear_after": 3, "reopen_within": "10m"})
    config = ProcessorConfig(detector=EWMA, alerts=alerts_config)
    values = _series(30) + [90.0] + _series(gap, seed=3) + [150.0] + _series(5, seed=4)
    _, alerts = _run(RecordScorer(config), DeviceState(), values, per_record=1)
    assert [a.state for a in alerts] == ["open", "resolved", "open", "resolved"]
    first, again = alerts[0], alerts[2]
    assert (again.id == first.id) is same_incident
    assert again.started_ms == (first.started_ms if same_incident else T0 + (31 + gap) * 1000)
    assert again.message.endswith(", fired again") is same_incident


def test_state_survives_the_changelog_codec() -> None:
    scorer = RecordScorer(ProcessorConfig())
    state = DeviceState()
    scorer.process(_record(_series(30) + [90.0]), state)
    codec = DeviceStateCodec()
    restored = codec.loads(codec.dumps(state))
    assert restored.points["ch4"].alert == state.points["ch4"].alert is not None
    a = scorer.process(_record(_series(3, seed=9), start=31), state)
    b = scorer.process(_record(_series(3, seed=9), start=31), restored)
    assert a.lines == b.lines


def test_river_detector_state_survives_the_codec() -> None:
    config = ProcessorConfig.model_validate({"detector": {"name": "river_sad"}})
    state = DeviceState()
    RecordScorer(config).process(_record(_series(25)), state)
    codec = DeviceStateCodec()
    restored = codec.loads(codec.dumps(state))
    assert restored.points["ch4"].detector.score_one(40.0) == state.points["ch4"].detector.score_one(40.0)


def test_config_rejects_unknown_detectors_with_the_known_ones() -> None:
    known = r"detector\.name = .magic.: .*known detectors: .*ewma_zscore, .*river_sad"
    with pytest.raises(ConfigError, match=known):
        validate_model(ProcessorConfig, {"detector": {"name": "magic"}}, "processor.yaml")
    with pytest.raises(ConfigError, match="clear_score <= open_score"):
        validate_model(ProcessorConfig, {"alerts": {"open_score": 0.3}}, "processor.yaml")
    config = validate_model(ProcessorConfig, {"sink": {"flush_interval": "250ms"}}, "x")
    assert config.sink.flush_interval_s == 0.25
