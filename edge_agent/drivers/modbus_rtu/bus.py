"""One RS-485 line: one serial connection shared by every slave on it, one request at a time.

Modbus RTU has no transaction ids: the master may only send the next
request once the previous answer (or its timeout) is over. Every
:class:`~edge_agent.drivers.modbus_rtu.driver.ModbusRtuDriver` on the same
``port`` therefore holds the same :class:`SerialBus` and reads through
:meth:`SerialBus.exclusive`, which queues callers fairly (FIFO) behind one
lock. Each device's runner is still its own task, so a slave that is dead
costs the line one ``response_timeout`` per attempt, and its runner's
backoff spaces those attempts out; the other slaves keep their cadence.

A slave that answers after its ``response_timeout`` would put its late
reply on the line while the next request is waiting for an answer: the
next slave's poll would fail (wrong unit id) or, worse, take a reply to
another request as its own. So after a timeout (:meth:`SerialBus.note_timeout`)
the next holder of the line first waits for the line to settle: until the
late reply has arrived and an inter-frame silence followed, or
``late_reply_window`` passed; whatever arrived meanwhile is discarded.
A unit whose window passed in silence is taken for dead rather than slow:
its further timeouts cost no window until it answers again, so a dead
slave still costs the line only its ``response_timeout`` per attempt.

Buses are found by port path in a process-wide weak table: the port is a
process-wide resource, and the driver factory has no other place to meet
its neighbours. A bus disappears with its last driver. The asyncio lock and
the connection belong to the event loop that first uses them; a bus used
from a new loop (tests run one loop each) starts afresh.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from pymodbus.client import AsyncModbusSerialClient

from parkwatch.errors import ConfigError, DeviceError

__all__ = ["LineSettings", "SerialBus"]

log = logging.getLogger(__name__)

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
        #: Loop time until which a late reply may still come (after a timeout); 0 when settled.
        self._late_until = 0.0
        self._timed_out_at = 0.0
        self._late_unit = 0
        #: Units whose late-reply window passed in silence (dead rather than slow).
        self._silent: set[int] = set()
        #: Loop time the last bytes arrived from the line.
        self._last_rx = 0.0
        #: Late replies (or noise) discarded while settling, for tests and logs.
        self.discarded = 0

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
            client = await self._connect()
            if self._late_until:
                await self._settle(client)
            yield client

    def note_timeout(self, unit_id: int, late_reply_window_s: float) -> None:
        """``unit_id`` did not answer in time; its reply may still come. The caller holds the line."""
        if late_reply_window_s > 0 and self._loop is not None and unit_id not in self._silent:
            self._timed_out_at = self._loop.time()
            self._late_until = self._timed_out_at + late_reply_window_s
            self._late_unit = unit_id

    def note_answer(self, unit_id: int) -> None:
        """``unit_id`` answered in time: if it times out again, wait for its late reply again."""
        self._silent.discard(unit_id)

    async def _settle(self, client: AsyncModbusSerialClient) -> None:
        """Wait for the late reply (or the window's end) and an inter-frame silence; drop what came."""
        loop = asyncio.get_running_loop()
        silence_s = self._silence_s()
        while True:
            now = loop.time()
            heard = self._last_rx > self._timed_out_at
            quiet = now - self._last_rx >= silence_s
            if quiet and (heard or now >= self._late_until):
                break
            await asyncio.sleep(silence_s if heard or now >= self._late_until else self._late_until - now)
        if self._last_rx > self._timed_out_at:
            self.discarded += 1
            log.info("%s: discarded a late reply of unit %d", self.settings.port, self._late_unit)
        else:
            self._silent.add(self._late_unit)
        client.ctx.recv_buffer = b""
        self._late_until = 0.0

    def _silence_s(self) -> float:
        """Modbus RTU's inter-frame gap: 3.5 characters of 11 bits, at least 1.75 ms (above 19200 baud)."""
        return max(3.5 * 11 / self.settings.baudrate, 0.00175) + 0.005  # + scheduling slack

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending and data and self._loop is not None:
            self._last_rx = self._loop.time()
        return data

    def reset(self) -> None:
        """Close the port; the next :meth:`exclusive` reopens it."""
        self._late_until = 0.0
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
            trace_packet=self._trace,
        )
        if not await client.connect():
            client.close()
            raise DeviceError(f"cannot open serial port {s.describe()}")
        self._client = client
        return client
