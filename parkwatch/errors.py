"""The project's exception tree.

    ParkwatchError
     ├── ConfigError          a config file or setting is invalid; startup stops
     ├── StackError           a local service is missing or did not become healthy
     ├── DeviceError          a field device failed; counted, the others go on
     │    └── DeviceTimeout
     ├── FrameError           a wire payload is invalid; sent to the dead-letter topic
     └── OutboxError          the edge outbox cannot accept or settle a frame

Third-party exceptions (pymodbus, paho, aiokafka) are translated at the
boundary with ``raise ... from exc`` so callers only handle these.
"""

from __future__ import annotations

__all__ = [
    "ParkwatchError",
    "ConfigError",
    "StackError",
    "DeviceError",
    "DeviceTimeout",
    "FrameError",
    "OutboxError",
]


class ParkwatchError(Exception):
    """Base of every error parkwatch raises on purpose."""


class ConfigError(ParkwatchError):
    """Invalid configuration; the message names the file, the field and the problem."""


class StackError(ParkwatchError):
    """A local service could not be started or is missing."""


class DeviceError(ParkwatchError):
    """A field device could not be read."""


class DeviceTimeout(DeviceError):
    """A field device did not answer in time."""


class FrameError(ParkwatchError):
    """A wire payload failed validation. ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class OutboxError(ParkwatchError):
    """The durable outbox failed."""
