"""Serial ASCII sensor driver: ``driver: serial_ascii``. See README.md beside this file."""

from edge_agent.drivers.serial_ascii.config import AsciiPoint, SerialAsciiConfig
from edge_agent.drivers.serial_ascii.driver import (
    SerialAsciiPolledDriver,
    SerialAsciiStreamDriver,
    build_serial_ascii,
)
from edge_agent.drivers.serial_ascii.parse import LineParser

__all__ = [
    "AsciiPoint",
    "LineParser",
    "SerialAsciiConfig",
    "SerialAsciiPolledDriver",
    "SerialAsciiStreamDriver",
    "build_serial_ascii",
]
