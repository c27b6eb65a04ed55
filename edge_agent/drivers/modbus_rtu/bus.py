"""One RS-485 line: one serial connection shared by every slave on it, one request at a time.

Modbus RTU has no transaction ids: the master may only send the next
request once the previous answer (or its timeout) is over. Every
:class:`~edge_agent.drivers.modbus_rtu.driver.ModbusRtuDriver` on the same
``port`` therefore holds the same :class:`SerialBus` and reads through
:meth:`SerialBus.exclusive`, which queues callers fairly (FIFO) behind one
lock. Each device's runner is still its own task, so a slave that is dead
costs the line one ``response_timeout`` per attempt, and its runner's
backoff spaces those attempts out; the other slaves keep their cadence.

Buses are found by port path in a process-wide weak table: the port is a
process-wide resource, and the driver factory has no other place to meet
its neighbours. A bus disappears with its last driver. The asyncio lock and
the connection belong to the event loop that first uses them; a bus used
from a new loop (tests run one loop each) starts afresh.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from pymodbus.client import AsyncModbusSerialClient

from parkwatch.errors import ConfigError, DeviceError

__all__ = ["LineSettings", "SerialBus"]

_PARITY: Final = {"none": "N", "even": "E", "odd": "O"}


@dataclass(frozen=True, slots=True)
class LineSettings:
    """What every slave on one line must agree on."""

    port: str
    baudrate: int
    parity: str
    stopbits: int
    bytesize: int

    def describe(self) -> str:
        return f"{self.port} {self.baudrate} {self.bytesize}{_PARITY[self.parity]}{self.stopbits}"


class SerialBus:
    """The shared connection and lock of one serial port."""

    _buses: weakref.WeakValueDictionary[str, SerialBus] = weakref.WeakValueDictionary()

    def __init__(self, settings: LineSettings) -> None:
        self.settings = settings
        #: ``unit id -> device id`` of the slaves using this bus.
        self.units: dict[int, str] = {}
        #: Unit ids that have read since their driver was last closed; the port closes when none are left.
        self._active: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._client: AsyncModbusSerialClient | None = None

    @classmethod
    def join(cls, settings: LineSettings, unit_id: int, device_id: str) -> SerialBus:
        """The bus of ``settings.port``, created on first use; the device is recorded on it.

        :class:`ConfigError` if the line settings differ from those of a
        device already on the port, or another device uses the same unit id.
        """
        bus = cls._buses.get(settings.port)
        if bus is None:
            bus = cls(settings)
            cls._buses[settings.port] = bus
        elif bus.settings != settings:
            others = ", ".join(sorted(bus.units.values()))
            raise ConfigError(
                f"device {device_id}: {settings.port} is set to {settings.describe()}, but devices on "
                f"the same port ({others}) use {bus.settings.describe()}"
            )
        owner = bus.units.get(unit_id)
        if owner is not None and owner != device_id:
            raise ConfigError(
                f"devices {owner} and {device_id} both use unit_id {unit_id} on {settings.port}"
            )
        bus.units[unit_id] = device_id
        return bus

    def leave(self, unit_id: int, device_id: str) -> None:
        """Forget a device (its driver is being discarded)."""
        if self.units.get(unit_id) == device_id:
            del self.units[unit_id]

    def release(self, unit_id: int) -> None:
        """A driver was closed; the port is closed once no slave on it is being read."""
        self._active.discard(unit_id)
        if not self._active:
            self.reset()

    @asynccontextmanager
    async def exclusive(self, unit_id: int) -> AsyncIterator[AsyncModbusSerialClient]:
        """Hold the line: wait for every earlier caller, then yield the connected client.

        The caller may be cancelled while waiting (nothing was sent) or
        while its request is on the wire; in the second case the caller
        should :meth:`reset` before leaving so a late answer is not read as
        the reply to the next slave's request.
        """
        self._adopt_loop()
        self._active.add(unit_id)
        async with self._lock:
            yield await self._connect()

    def reset(self) -> None:
        """Close the port; the next :meth:`exclusive` reopens it."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _adopt_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._client = None  # belonged to another loop; nothing to close on this one
            self._lock = asyncio.Lock()
            self._loop = loop

    async def _connect(self) -> AsyncModbusSerialClient:
        if self._client is not None and self._client.connected:
            return self._client
        self.reset()
        s = self.settings
        # reconnect_delay=0: no background reconnects; runners decide when to try again.
        # retries=0 and a generous client timeout: drivers bound each request themselves.
        client = AsyncModbusSerialClient(
            s.port,
            baudrate=s.baudrate,
            parity=_PARITY[s.parity],
            stopbits=s.stopbits,
            bytesize=s.bytesize,
            timeout=10.0,
            retries=0,
            reconnect_delay=0,
            name=s.port,
        )
        if not await client.connect():
            client.close()
            raise DeviceError(f"cannot open serial port {s.describe()}")
        self._client = client
        return client
