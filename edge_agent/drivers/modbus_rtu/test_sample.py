"""The sample config loads, builds drivers sharing one bus, and the README shows it verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import load_gateway
from edge_agent.drivers.modbus_rtu import ModbusRtuConfig, ModbusRtuDriver
from parkwatch.errors import ConfigError

HERE = Path(__file__).parent


def test_sample_loads_and_devices_share_one_bus() -> None:
    gateway = load_gateway(HERE / "sample.yaml")
    pump, gas = (ModbusRtuDriver(d, gateway.profiles) for d in gateway.config.devices)
    assert isinstance(pump.config, ModbusRtuConfig)
    assert pump.bus is gas.bus and pump.bus.units == {1: "pump-01", 7: "gas-07"}
    assert [(b.register_type, b.start, b.count) for b in pump.plan] == [
        ("holding", 0, 3), ("input", 0, 4), ("coil", 0, 2), ("discrete_input", 0, 1), ("discrete_input", 5, 1)
    ]  # fmt: skip


def test_same_port_with_other_settings_or_unit_is_refused() -> None:
    gateway = load_gateway(HERE / "sample.yaml")
    pump, _gas = (ModbusRtuDriver(d, gateway.profiles) for d in gateway.config.devices)
    other = pump.config.model_copy(update={"id": "pump-02", "baudrate": 19200, "unit_id": 2})
    expected = r"/dev/ttyUSB0 is set to /dev/ttyUSB0 19200 8N1, but .* use .*9600"
    with pytest.raises(ConfigError, match=expected):
        ModbusRtuDriver(other, gateway.profiles)
    clash = pump.config.model_copy(update={"id": "pump-02"})
    with pytest.raises(ConfigError, match="devices pump-01 and pump-02 both use unit_id 1"):
        ModbusRtuDriver(clash, gateway.profiles)


def test_readme_embeds_the_sample() -> None:
    assert (HERE / "sample.yaml").read_text() in (HERE / "README.md").read_text()
