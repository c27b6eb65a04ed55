"""The sample configs load, equal the defaults, and are quoted verbatim in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from stream_processor.bridge.config import BridgeConfig
from stream_processor.config import DetectorConfig, ProcessorConfig
from stream_processor.config_files import load_model

HERE = Path(__file__).parent


@pytest.mark.parametrize(("path", "model"), [(HERE / "sample.yaml", ProcessorConfig),
                                             (HERE / "bridge" / "sample.yaml", BridgeConfig)])
def test_sample_is_the_defaults_and_in_the_readme(path: Path, model: type[BaseModel]) -> None:
    loaded = load_model(model, path)
    if isinstance(loaded, ProcessorConfig):  # the sample spells out the detector's own defaults
        assert loaded.detector.create().get_params() == DetectorConfig().create().get_params()
        loaded = loaded.model_copy(update={"detector": DetectorConfig()})
    assert loaded == model()
    assert path.read_text() in (HERE / "README.md").read_text()
