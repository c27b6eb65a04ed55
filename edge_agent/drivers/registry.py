"""Drivers by name: ``driver: modbus_tcp`` in a gateway config picks an entry here.

Each driver module registers itself with :func:`register`, and
``edge_agent/drivers/__init__.py`` imports every driver module explicitly;
nothing scans directories. The registry is filled at import time and only
read afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from edge_agent.drivers.base import DeviceConfig, PolledDriver, ProfileLibrary, PushDriver
from parkwatch.errors import ConfigError

__all__ = [
    "AnyDriverFactory",
    "DriverFactory",
    "DriverSpec",
    "register",
    "lookup",
    "known_drivers",
    "config_models",
]

#: Builds a driver from its validated config; must not do I/O.
AnyDriverFactory = Callable[[DeviceConfig, ProfileLibrary], PolledDriver | PushDriver]
#: A factory whose drivers are all polled.
DriverFactory = Callable[[DeviceConfig, ProfileLibrary], PolledDriver]
_F = TypeVar("_F", bound=AnyDriverFactory)


@dataclass(frozen=True, slots=True)
class DriverSpec:
    """What the agent needs to know about a driver."""

    name: str
    config_model: type[DeviceConfig]
    #: Builds a polled or a push driver, depending on the driver and its config
    #: (``serial_ascii`` is polled with a ``poll_command``, push without).
    build: AnyDriverFactory

    def factory(self, config: DeviceConfig, profiles: ProfileLibrary) -> PolledDriver:
        """Build a driver that must be polled; :class:`ConfigError` if this config makes a push driver.

        For callers that can only poll (the field simulator's tools, tests); the agent builds with
        :attr:`build` and runs polled and push drivers alike.
        """
        driver = self.build(config, profiles)
        if not isinstance(driver, PolledDriver):
            raise ConfigError(
                f"device {config.id}: driver {self.name!r} pushes readings (start/stop) with this "
                "config, where a polled driver is needed"
            )
        return driver


_REGISTRY: dict[str, DriverSpec] = {}


def register(name: str, config_model: type[DeviceConfig]) -> Callable[[_F], _F]:
    """Class or function decorator: make ``factory`` the driver called ``name``.

    ``config_model`` validates the device entries that name this driver; its
    ``driver`` field must be ``Literal[name]``.
    """

    def decorate(factory: _F) -> _F:
        if name in _REGISTRY:
            raise RuntimeError(f"driver {name!r} registered twice")
        _REGISTRY[name] = DriverSpec(name, config_model, factory)
        return factory

    return decorate


def lookup(name: str) -> DriverSpec:
    """The driver called ``name``; :class:`ConfigError` listing the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown driver {name!r}; known drivers: {', '.join(known_drivers())}") from None


def known_drivers() -> list[str]:
    """Registered driver names, sorted."""
    return sorted(_REGISTRY)


def config_models() -> list[type[DeviceConfig]]:
    """Every registered driver's config model, in name order."""
    return [_REGISTRY[name].config_model for name in known_drivers()]
