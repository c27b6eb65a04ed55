"""MQTT sensor driver: ``driver: mqtt_sensor``. See README.md beside this file."""

from edge_agent.drivers.mqtt_sensor.config import JsonPoint, MqttSensorConfig
from edge_agent.drivers.mqtt_sensor.driver import MqttSensorDriver
from edge_agent.drivers.mqtt_sensor.payload import PayloadError, PayloadMapper

__all__ = ["JsonPoint", "MqttSensorConfig", "MqttSensorDriver", "PayloadError", "PayloadMapper"]
