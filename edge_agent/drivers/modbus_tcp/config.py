"""Configuration of one Modbus TCP device in a gateway config.

The sample in ``sample.yaml`` (beside this file) is the reference; the
README embeds it and a test loads it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge_agent.drivers.base import DeviceConfig
from edge_agent.drivers.modbus_common.read_plan import MAX_REGISTERS_PER_READ
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["ModbusTcpConfig"]


class ModbusTcpConfig(DeviceConfig):
    """A Modbus TCP server (or a TCP-to-RTU gateway) and the unit id to address."""

    driver: Literal["modbus_tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    #: Unit (slave) id; 1..247 for devices behind a gateway, often 1 or 255 for native TCP devices.
    unit_id: int = Field(default=1, ge=0, le=255)
    profile: str = Field(pattern=ID_PATTERN.pattern)
    #: Lower this for devices that reject long reads.
    max_registers_per_read: int = Field(default=MAX_REGISTERS_PER_READ, ge=1, le=MAX_REGISTERS_PER_READ)
