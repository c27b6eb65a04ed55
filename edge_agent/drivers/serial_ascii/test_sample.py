"""The sample config loads and builds one polled and one streaming driver; the README shows it."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config import load_gateway
from edge_agent.drivers.base import PolledDriver, PushDriver
from edge_agent.drivers.registry import lookup
from edge_agent.drivers.serial_ascii import build_serial_ascii

HERE = Path(__file__).parent


def test_sample_loads_and_builds_both_modes_without_io() -> None:
    gateway = load_gateway(HERE / "sample.yaml")
    polled, streaming = (build_serial_ascii(d, gateway.profiles) for d in gateway.config.devices)
    assert isinstance(polled, PolledDriver) and not isinstance(polled, PushDriver)
    assert isinstance(streaming, PushDriver) and not isinstance(streaming, PolledDriver)
    assert polled.point_names == ["temp", "rh"]
    parsed = streaming.parser.parse("$WIMWV,214.8,R,0.1,M,A*3C", ts_ms=1)
    assert parsed is not None and [r.value for r in parsed] == [214.8, 0.1]
    assert lookup("serial_ascii").factory(gateway.config.devices[0], gateway.profiles) is not None


def test_readme_embeds_the_sample() -> None:
    assert (HERE / "sample.yaml").read_text() in (HERE / "README.md").read_text()
