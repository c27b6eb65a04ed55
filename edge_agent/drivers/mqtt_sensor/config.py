"""Configuration of one sensor that publishes JSON to a local MQTT broker.

The sample in ``sample.yaml`` (beside this file) is the reference; the
README embeds it and a test loads it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge_agent.drivers.base import DeviceConfig
from edge_agent.drivers.mqtt_sensor.json_path import parse_path
from parkwatch.durations import Duration
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["JsonPoint", "MqttSensorConfig"]


def _check_path(path: str) -> str:
    parse_path(path)  # raises ValueError with the reason
    return path


class JsonPoint(BaseModel):
    """One value at ``path`` in the payload: ``value = number * scale + offset``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=ID_PATTERN.pattern)
    #: ``$.data.temp``, ``data.temp`` or ``data.values[0]``.
    path: str
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""

    @field_validator("path")
    @classmethod
    def _path_valid(cls, path: str) -> str:
        return _check_path(path)


class MqttSensorConfig(DeviceConfig):
    """Subscriptions on a broker and where each point sits in the JSON payload."""

    driver: Literal["mqtt_sensor"]
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    #: Subscriptions (wildcards allowed); every message on them has the layout ``points`` describe.
    topics: list[str] = Field(min_length=1)
    qos: Literal[0, 1] = 0
    #: Path of the sample time in the payload; without it, the arrival time is used.
    timestamp_path: str | None = None
    #: How ``timestamp_path`` is written: epoch milliseconds, epoch seconds, or ISO 8601 with a zone.
    timestamp_format: Literal["epoch_ms", "epoch_s", "iso8601"] = "epoch_ms"
    points: list[JsonPoint] = Field(min_length=1)
    #: A point that received nothing for this long is reported ``stale`` (``comm_loss`` when the
    #: whole device is silent), again every ``stale_after`` while silent; default: never.
    stale_after_s: Duration | None = Field(default=None, alias="stale_after", gt=0)

    @field_validator("topics")
    @classmethod
    def _topics_valid(cls, topics: list[str]) -> list[str]:
        for topic in topics:
            levels = topic.split("/")
            if not topic or any(("#" in lv and lv != "#") or ("+" in lv and lv != "+") for lv in levels):
                raise ValueError(f"not a valid MQTT subscription: {topic!r}")
            if "#" in levels[:-1]:
                raise ValueError(f"'#' must be the last level: {topic!r}")
        return topics

    @model_validator(mode="after")
    def _consistent(self) -> MqttSensorConfig:
        if self.timestamp_path is not None:
            _check_path(self.timestamp_path)
        names = [p.name for p in self.points]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"point name {name!r} is used twice")
        return self
