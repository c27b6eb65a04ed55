"""Modbus TCP driver: ``driver: modbus_tcp``. See README.md beside this file."""

from edge_agent.drivers.modbus_tcp.config import ModbusTcpConfig
from edge_agent.drivers.modbus_tcp.driver import ModbusTcpDriver

__all__ = ["ModbusTcpConfig", "ModbusTcpDriver"]
