"""One MQTT message body to readings, by the paths of a :class:`MqttSensorConfig`.

>>> from edge_agent.drivers.mqtt_sensor.config import MqttSensorConfig
>>> config = MqttSensorConfig(id="w1", driver="mqtt_sensor", topics=["w/1"], timestamp_path="$.ts",
...     points=[{"name": "temp", "path": "$.data.temp"}, {"name": "rh", "path": "data.rh", "scale": 0.01}])
>>> mapper = PayloadMapper(config)
>>> payload = b'{"ts": 1700000000000, "data": {"temp": 21.5, "rh": 48}}'
>>> [(r.point, r.ts_ms, r.value) for r in mapper.map(payload, arrival_ms=0)]
[('temp', 1700000000000, 21.5), ('rh', 1700000000000, 0.48)]
>>> try:
...     mapper.map(b'{"data": ', 0)
... except PayloadError as exc:
...     print(exc)
not valid JSON: Expecting value: line 1 column 10 (char 9)
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from edge_agent.drivers.mqtt_sensor.config import MqttSensorConfig
from edge_agent.drivers.mqtt_sensor.json_path import MISSING, find, parse_path
from parkwatch.wire.frames import Reading

__all__ = ["PayloadError", "PayloadMapper"]


class PayloadError(ValueError):
    """The message cannot be used at all; the driver counts it and skips it."""


class PayloadMapper:
    """Finds each point's value (and the sample time) in a JSON payload."""

    def __init__(self, config: MqttSensorConfig) -> None:
        self.config = config
        self._paths = [(p, parse_path(p.path)) for p in config.points]
        self._ts_path = parse_path(config.timestamp_path) if config.timestamp_path else None

    def map(self, payload: bytes | bytearray, arrival_ms: int) -> list[Reading]:
        """Readings for the points present in ``payload``.

        A point whose path is absent is left out (sensors often send partial
        updates); one that is present but not a finite number is ``bad``.
        :class:`PayloadError` if the payload is not a JSON object, has a
        missing or unreadable timestamp, or holds none of the points.
        """
        try:
            document = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError(f"not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise PayloadError(f"expected a JSON object, got {type(document).__name__}")
        ts_ms = arrival_ms if self._ts_path is None else self._timestamp(find(document, self._ts_path))
        out: list[Reading] = []
        for point, path in self._paths:
            raw = find(document, path)
            if raw is MISSING:
                continue
            value = _number(raw)
            if value is None:
                out.append(Reading(point.name, ts_ms, None, "bad"))
            else:
                out.append(Reading(point.name, ts_ms, value * point.scale + point.offset, "good"))
        if not out:
            raise PayloadError("none of the configured points is in the payload")
        return out

    def _timestamp(self, raw: Any) -> int:
        fmt = self.config.timestamp_format
        if raw is MISSING:
            raise PayloadError(f"no timestamp at {self.config.timestamp_path}")
        if fmt == "iso8601":
            if not isinstance(raw, str):
                raise PayloadError(f"timestamp is not an ISO 8601 string: {raw!r}")
            try:
                when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                raise PayloadError(f"timestamp is not ISO 8601: {raw!r}") from None
            if when.tzinfo is None:
                raise PayloadError(f"timestamp has no time zone: {raw!r}")
            return int(when.timestamp() * 1000)
        value = _number(raw)
        if value is None:
            raise PayloadError(f"timestamp is not a number: {raw!r}")
        return int(value if fmt == "epoch_ms" else value * 1000)


def _number(raw: Any) -> float | None:
    """A finite float from a JSON number (or bool); ``None`` for anything else."""
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, int | float) and math.isfinite(raw):
        return float(raw)
    return None
