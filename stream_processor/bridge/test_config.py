"""Bridge config errors surface at load, before any connection."""

from __future__ import annotations

import pytest
from aiokafka import codec

from parkwatch.errors import ConfigError
from stream_processor.bridge.config import BridgeConfig
from stream_processor.config_files import validate_model


def test_a_missing_compression_codec_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "has_zstd", lambda: False)
    expected = r"bridge.yaml: compression = 'zstd': .*zstd codec is not installed"
    with pytest.raises(ConfigError, match=expected):
        validate_model(BridgeConfig, {"compression": "zstd"}, "bridge.yaml")


def test_durations_and_unknown_keys() -> None:
    config = validate_model(BridgeConfig, {"linger": "20ms", "shutdown_timeout": "1m"}, "x")
    assert (config.linger_s, config.shutdown_timeout_s) == (0.02, 60.0)
    with pytest.raises(ConfigError, match="lingr = '5ms': Extra inputs are not permitted"):
        validate_model(BridgeConfig, {"lingr": "5ms"}, "x")
    with pytest.raises(ConfigError, match="linger = 'soon': .*not a number with a unit"):
        validate_model(BridgeConfig, {"linger": "soon"}, "x")
