"""The sample config loads; a polled-only factory refuses it clearly; the README shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import load_gateway
from edge_agent.drivers.base import PushDriver
from edge_agent.drivers.mqtt_sensor import MqttSensorDriver
from edge_agent.drivers.registry import lookup
from parkwatch.errors import ConfigError

HERE = Path(__file__).parent


def test_sample_loads_and_builds_a_push_driver_without_io() -> None:
    gateway = load_gateway(HERE / "sample.yaml")
    (device,) = gateway.config.devices
    driver = MqttSensorDriver(device, gateway.profiles)
    assert isinstance(driver, PushDriver)
    assert driver.point_names == ["wind_speed", "wind_dir", "temp"]
    with pytest.raises(ConfigError, match="device weather-01: driver 'mqtt_sensor' pushes readings"):
        lookup("mqtt_sensor").factory(device, gateway.profiles)


def test_readme_embeds_the_sample() -> None:
    assert (HERE / "sample.yaml").read_text() in (HERE / "README.md").read_text()
