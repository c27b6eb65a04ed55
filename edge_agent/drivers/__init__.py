"""Device drivers. Each driver is imported here, explicitly, so it registers itself.

Adding a driver: create ``edge_agent/drivers/<name>/`` with a config model
(extending :class:`~edge_agent.drivers.base.DeviceConfig`), a driver class
decorated with ``@register("<name>", ConfigModel)``, and add one import line
below.
"""

from edge_agent.drivers import modbus_tcp  # noqa: F401  (registers "modbus_tcp")
from edge_agent.drivers.base import DeviceConfig, PolledDriver, ProfileLibrary
from edge_agent.drivers.registry import DriverSpec, known_drivers, lookup, register

__all__ = [
    "DeviceConfig",
    "PolledDriver",
    "ProfileLibrary",
    "DriverSpec",
    "known_drivers",
    "lookup",
    "register",
]
