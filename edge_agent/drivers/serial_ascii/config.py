"""Configuration of one line-oriented ASCII sensor on a serial port.

The sample in ``sample.yaml`` (beside this file) is the reference; the
README embeds it and a test loads it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge_agent.drivers.base import DeviceConfig
from parkwatch.durations import Duration
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["AsciiPoint", "SerialAsciiConfig"]


class AsciiPoint(BaseModel):
    """One value taken from a named group of the line pattern: ``value = float(group) * scale + offset``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=ID_PATTERN.pattern)
    #: Named group of ``pattern`` holding the number; default: the point's name.
    group: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""

    @property
    def group_name(self) -> str:
        return self.group or self.name


class SerialAsciiConfig(DeviceConfig):
    """A sensor that speaks lines of text: on request (``mode: poll``) or by itself (``mode: stream``)."""

    driver: Literal["serial_ascii"]
    port: str = Field(min_length=1)
    baudrate: int = Field(default=9600, ge=300, le=4_000_000)
    parity: Literal["none", "even", "odd"] = "none"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    #: ``poll``: send ``poll_command`` every poll interval and read one line back;
    #: ``stream``: the sensor sends lines by itself and each is a reading.
    mode: Literal["poll", "stream"] = "poll"
    #: Sent as is (escapes like ``\r`` are YAML's: use double quotes); required for ``mode: poll``.
    poll_command: str | None = None
    #: Regular expression one line must match (``re.search``, after stripping the line end).
    pattern: str
    points: list[AsciiPoint] = Field(min_length=1)
    #: A line longer than this is dropped as garbage (a sensor babbling without line ends).
    max_line_length: int = Field(default=256, ge=8, le=65536)
    #: ``mode: stream`` only: a point that received nothing for this long is reported ``stale``
    #: (``comm_loss`` when the whole device is silent), again every ``stale_after`` while silent;
    #: default: never. A polled sensor that does not answer is ``comm_loss`` at every failed poll.
    stale_after_s: Duration | None = Field(default=None, alias="stale_after", gt=0)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if not compiled.groupindex:
            raise ValueError("needs at least one named group, e.g. (?P<temp>-?[0-9.]+)")
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> SerialAsciiConfig:
        if (self.mode == "poll") != (self.poll_command is not None):
            raise ValueError("poll_command is required for mode poll and not allowed for mode stream")
        if self.mode == "poll" and self.stale_after_s is not None:
            raise ValueError("stale_after is for mode stream (a polled sensor is comm_loss when silent)")
        groups = set(re.compile(self.pattern).groupindex)
        names: set[str] = set()
        for point in self.points:
            if point.group_name not in groups:
                raise ValueError(
                    f"point {point.name!r} reads group {point.group_name!r}, which pattern does not "
                    f"define (groups: {', '.join(sorted(groups))})"
                )
            if point.name in names:
                raise ValueError(f"point name {point.name!r} is used twice")
            names.add(point.name)
        return self
