"""The sample config loads, and the README shows it verbatim."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config import load_gateway
from edge_agent.drivers.modbus_tcp import ModbusTcpConfig, ModbusTcpDriver

HERE = Path(__file__).parent


def test_sample_loads_and_builds_a_driver_without_io() -> None:
    gateway = load_gateway(HERE / "sample.yaml")
    (device,) = gateway.config.devices
    assert isinstance(device, ModbusTcpConfig)
    driver = ModbusTcpDriver(device, gateway.profiles)
    assert driver.point_names == ["ch4", "h2s", "fault"]
    assert [(b.register_type, b.start, b.count) for b in driver.plan] == [("input", 0, 5)]


def test_readme_embeds_the_sample() -> None:
    assert (HERE / "sample.yaml").read_text() in (HERE / "README.md").read_text()
