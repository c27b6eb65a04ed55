"""Device drivers. Each driver is imported here, explicitly, so it registers itself.

Adding a driver: create ``edge_agent/drivers/<name>/`` with a config model
(extending :class:`~edge_agent.drivers.base.DeviceConfig`), a driver class
(or factory) decorated with ``@register("<name>", ConfigModel)``, and add
one import line below. ``modbus_common`` is shared code, not a driver.
"""

from edge_agent.drivers import (
    modbus_rtu,  # noqa: F401  (registers "modbus_rtu")
    modbus_tcp,  # noqa: F401  (registers "modbus_tcp")
    mqtt_sensor,  # noqa: F401  (registers "mqtt_sensor")
    serial_ascii,  # noqa: F401  (registers "serial_ascii")
)
from edge_agent.drivers.base import (
    DeviceConfig,
    MessageCounters,
    PolledDriver,
    ProfileLibrary,
    PushDriver,
    ReadingsSink,
)
from edge_agent.drivers.registry import DriverSpec, known_drivers, lookup, register

__all__ = [
    "DeviceConfig",
    "MessageCounters",
    "PolledDriver",
    "PushDriver",
    "ReadingsSink",
    "ProfileLibrary",
    "DriverSpec",
    "known_drivers",
    "lookup",
    "register",
]
