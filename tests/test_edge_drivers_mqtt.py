"""MQTT sensor driver against the real Mosquitto of the session stack: JSON paths to readings."""

from __future__ import annotations

import asyncio
import json
import uuid

import paho.mqtt.client as mqtt
import pytest

from edge_agent.drivers.mqtt_sensor import MqttSensorConfig, MqttSensorDriver
from parkwatch.errors import DeviceError
from parkwatch.settings import Settings
from parkwatch.testing import free_port
from parkwatch.wire.frames import Reading

pytestmark = pytest.mark.services


def config(settings: Settings, topic: str, **kw: object) -> MqttSensorConfig:
    return MqttSensorConfig.model_validate(
        {"id": "weather-01", "driver": "mqtt_sensor", "host": settings.mqtt_host, "port": settings.mqtt_port,
         "topics": [f"{topic}/+"], "timestamp_path": "$.ts", "qos": 1,
         "points": [{"name": "wind_speed", "path": "$.data.wind.speed", "unit": "m/s"},
                    {"name": "wind_dir", "path": "data.wind.dir", "unit": "deg"},
                    {"name": "temp", "path": "$.data.t[0]", "scale": 0.1, "unit": "degC"}], **kw}
    )  # fmt: skip


def test_payloads_are_mapped_and_malformed_ones_counted(stack: Settings) -> None:
    topic = f"test/weather/{uuid.uuid4().hex[:8]}"
    driver = MqttSensorDriver(config(stack, topic), {})
    got: list[list[Reading]] = []
    payloads: list[bytes] = [
        json.dumps({"ts": 1_700_000_000_000, "data": {"wind": {"speed": 3.5, "dir": 270}, "t": [215]}})
        .encode(),
        b'{"ts": 1700000001000, "data": {"wind": ',  # truncated
        b"[1, 2, 3]",  # not an object
        json.dumps({"data": {"wind": {"speed": 1.0}}}).encode(),  # no timestamp
        json.dumps({"ts": 1_700_000_002_000, "data": {"wind": {"speed": "n/a", "dir": 90}}}).encode(),
        json.dumps({"ts": 1_700_000_003_000, "other": 1}).encode(),  # none of the points
    ]

    async def main() -> None:
        await driver.start(got.append)
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        publisher.connect(stack.mqtt_host, stack.mqtt_port)
        publisher.loop_start()
        try:
            for payload in payloads:
                publisher.publish(f"{topic}/north", payload, qos=1).wait_for_publish(5)
            for _ in range(250):
                if driver.counters.messages >= len(payloads):
                    break
                await asyncio.sleep(0.02)
        finally:
            publisher.disconnect()
            publisher.loop_stop()
            await driver.stop()

    asyncio.run(main())
    assert driver.counters.messages == 6 and driver.counters.parse_errors == 4
    first, partial = got
    assert [(r.point, r.ts_ms, r.quality) for r in first] == [
        ("wind_speed", 1_700_000_000_000, "good"), ("wind_dir", 1_700_000_000_000, "good"),
        ("temp", 1_700_000_000_000, "good"),
    ]  # fmt: skip
    assert [r.value for r in first] == pytest.approx([3.5, 270.0, 21.5])
    assert [(r.point, r.value, r.quality) for r in partial] == [
        ("wind_speed", None, "bad"), ("wind_dir", 90.0, "good")
    ]  # fmt: skip


def test_unreachable_broker_is_a_device_error() -> None:
    settings = Settings(mqtt_port=free_port())
    driver = MqttSensorDriver(config(settings, "test/none", timeout="300ms"), {})
    with pytest.raises(DeviceError, match="cannot subscribe"):
        asyncio.run(driver.start(lambda rs: None))
