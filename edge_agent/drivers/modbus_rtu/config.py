"""Configuration of one Modbus RTU device (one unit id on one RS-485 line).

Several devices may name the same ``port``: they are slaves on one bus and
share one serial connection (see :mod:`~edge_agent.drivers.modbus_rtu.bus`).
Their line settings (baudrate, parity, stop bits, byte size) must agree.

The sample in ``sample.yaml`` (beside this file) is the reference; the
README embeds it and a test loads it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge_agent.drivers.base import DeviceConfig
from edge_agent.drivers.modbus_common.read_plan import MAX_REGISTERS_PER_READ
from parkwatch.durations import Duration
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["Parity", "ModbusRtuConfig"]

Parity = Literal["none", "even", "odd"]


class ModbusRtuConfig(DeviceConfig):
    """A Modbus RTU slave on a serial port.

    ``timeout`` (from :class:`DeviceConfig`) bounds the whole poll, including
    waiting for the bus while other slaves on it are being read;
    ``response_timeout`` bounds one request on the wire and is what a dead
    slave costs the bus per attempt.
    """

    driver: Literal["modbus_rtu"]
    #: Serial device, e.g. ``/dev/ttyUSB0`` or ``/dev/ttyS1``.
    port: str = Field(min_length=1)
    baudrate: int = Field(default=9600, ge=300, le=4_000_000)
    parity: Parity = "none"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    #: Slave address on the line; 0 is broadcast and 248..255 are reserved.
    unit_id: int = Field(default=1, ge=1, le=247)
    profile: str = Field(pattern=ID_PATTERN.pattern)
    response_timeout_s: Duration = Field(default=0.3, alias="response_timeout")
    #: After this device's request timed out, the line stays quiet until its late reply has come
    #: and gone, or this long, before the next request. A window that passes in silence marks the
    #: device dead rather than slow: its next timeouts cost no window until it answers again.
    late_reply_window_s: Duration = Field(default=0.1, alias="late_reply_window")
    #: Lower this for devices that reject long reads.
    max_registers_per_read: int = Field(default=MAX_REGISTERS_PER_READ, ge=1, le=MAX_REGISTERS_PER_READ)

    @model_validator(mode="after")
    def _response_fits_poll(self) -> ModbusRtuConfig:
        if self.response_timeout_s > self.timeout_s:
            raise ValueError(
                f"response_timeout ({self.response_timeout_s:g}s) must not exceed timeout "
                f"({self.timeout_s:g}s), which bounds the whole poll"
            )
        return self
