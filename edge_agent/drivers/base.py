"""The driver contract: what the runner may assume about a device driver.

A *polled* driver (Modbus TCP today; Modbus RTU and request/response serial
later) answers :meth:`PolledDriver.read`. The :class:`~edge_agent.runner.DeviceRunner`
that owns it calls ``read()`` from one asyncio task, never concurrently, at
the device's poll interval, wraps it in the device timeout and may cancel it.
The driver owns its connection: it (re)connects lazily inside ``read()`` and
drops the connection after an error so the next call starts clean. It does
no sleeping, retrying or counting; the runner does.

A *push* driver (MQTT sensors, streaming serial) is told where to deliver
and then produces readings when the device speaks: :meth:`PushDriver.start`
opens the connection and returns once listening; from then on the driver
calls ``sink(readings)`` on the event loop thread (never from another
thread, never concurrently) for every message it could parse, until
:meth:`PushDriver.stop`. A message it cannot parse is counted in
``counters.parse_errors``, logged with the device name, and skipped; it
never ends the stream. Push drivers reconnect on their own (the transport,
e.g. paho, knows when the link comes back).

Construction validates and prepares (read plans, decoders) but does no I/O,
so a whole gateway config is checked before any port opens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.register_map import DeviceProfile
from parkwatch.durations import Duration
from parkwatch.wire.frames import Reading
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["DeviceConfig", "PolledDriver", "PushDriver", "MessageCounters", "ReadingsSink", "ProfileLibrary"]

#: Profiles by name, loaded and validated with the gateway config.
ProfileLibrary = Mapping[str, DeviceProfile]

#: Where a push driver delivers: called on the event loop with one message's readings; must not block.
ReadingsSink = Callable[[list[Reading]], None]


class DeviceConfig(BaseModel):
    """Fields every device entry has; each driver's config model extends this.

    ``driver`` is narrowed to a ``Literal`` by each subclass so the gateway
    config can pick the right model by name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=ID_PATTERN.pattern)
    driver: str
    #: Name of a profile in the profiles directory, for drivers that read register maps.
    profile: str | None = None
    poll_interval_s: Duration = Field(default=1.0, alias="poll_interval")
    #: How long one ``read()`` may take before the device counts as not answering.
    timeout_s: Duration = Field(default=1.0, alias="timeout")
    #: Longest wait between attempts while a device keeps failing.
    max_backoff_s: Duration = Field(default=30.0, alias="max_backoff")
    #: Polled drivers: extra attempts right after a failed read before the poll counts as failed.
    retries: int = Field(default=0, ge=0, le=5)


@runtime_checkable
class PolledDriver(Protocol):
    """A device read on the runner's schedule."""

    #: Every point ``read()`` reports, in order; the runner reports these as
    #: ``comm_loss`` when the device does not answer.
    @property
    def point_names(self) -> list[str]: ...

    async def read(self) -> list[Reading]:
        """Read every point once.

        Readings carry the wall-clock time (epoch ms) at which the request
        started; one poll gives every point the same ``ts_ms``. Returns one
        reading per point: ``good`` with a value, or ``bad`` with
        ``None`` when the device answered with an exception for that point or
        sent a value that is not a finite number. Raises
        :class:`~parkwatch.errors.DeviceTimeout` when the device did not answer
        and :class:`~parkwatch.errors.DeviceError` when it could not be reached
        or the exchange failed; never a third-party exception.
        """
        ...

    async def close(self) -> None:
        """Release the connection; ``read()`` may be called again afterwards."""
        ...


@dataclass(slots=True)
class MessageCounters:
    """What a message-based driver saw; kept by the driver because only it sees the raw messages."""

    messages: int = 0
    readings: int = 0
    parse_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@runtime_checkable
class PushDriver(Protocol):
    """A device that sends readings when it has them."""

    #: Every point the driver may report.
    @property
    def point_names(self) -> list[str]: ...

    @property
    def counters(self) -> MessageCounters: ...

    async def start(self, sink: ReadingsSink) -> None:
        """Connect and start delivering to ``sink``; returns once listening.

        Raises :class:`~parkwatch.errors.DeviceError` if the connection
        cannot be opened; never a third-party exception.
        """
        ...

    async def stop(self) -> None:
        """Stop delivering and release the connection; ``start`` may be called again."""
        ...
