"""Modbus RTU driver: ``driver: modbus_rtu``. See README.md beside this file."""

from edge_agent.drivers.modbus_rtu.bus import LineSettings, SerialBus
from edge_agent.drivers.modbus_rtu.config import ModbusRtuConfig
from edge_agent.drivers.modbus_rtu.driver import ModbusRtuDriver

__all__ = ["LineSettings", "ModbusRtuConfig", "ModbusRtuDriver", "SerialBus"]
