"""A serial port read line by line on the event loop, without threads.

pyserial opens and configures the tty (baudrate, parity, ...); the event
loop watches its file descriptor (``loop.add_reader``), so no thread blocks
on ``read()``. This works for real serial ports and ptys on POSIX, which is
where gateways run; pyserial-asyncio does the same and is not needed.

Every complete line goes to ``on_line``; a run of more than ``max_line_length``
bytes without a line end goes to ``on_overflow`` and is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

import serial

from parkwatch.errors import DeviceError

__all__ = ["LinePort"]

log = logging.getLogger(__name__)

_PARITY: Final = {"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN, "odd": serial.PARITY_ODD}


class LinePort:
    """One open serial port delivering decoded lines (line end stripped) to a callback."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int,
        parity: str,
        stopbits: int,
        bytesize: int,
        max_line_length: int,
        on_line: Callable[[str], None],
        on_overflow: Callable[[bytes], None],
        on_lost: Callable[[Exception], None],
    ) -> None:
        self.port = port
        self._settings = {
            "baudrate": baudrate,
            "parity": _PARITY[parity],
            "stopbits": stopbits,
            "bytesize": bytesize,
        }
        self.max_line_length = max_line_length
        self._on_line = on_line
        self._on_overflow = on_overflow
        self._on_lost = on_lost
        self._serial: serial.Serial | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = bytearray()

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        """Open the port and start watching it; :class:`DeviceError` if it cannot be opened."""
        if self._serial is not None:
            return
        try:
            port = serial.Serial(self.port, timeout=0, write_timeout=0, **self._settings)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"cannot open serial port {self.port}: {exc}") from exc
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(port.fileno(), self._readable)
        self._serial = port
        self._buffer.clear()

    def write(self, data: bytes) -> None:
        """Send ``data`` (a short command); :class:`DeviceError` if the port fails."""
        if self._serial is None:
            raise DeviceError(f"serial port {self.port} is not open")
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceError(f"cannot write to {self.port}: {exc}") from exc

    def discard_input(self) -> None:
        """Forget buffered bytes (a stale answer to an earlier, timed-out command)."""
        self._buffer.clear()
        if self._serial is not None:
            try:
                self._serial.reset_input_buffer()
            except (serial.SerialException, OSError):
                pass

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(port.fileno())
        port.close()

    def _readable(self) -> None:
        assert self._serial is not None
        try:
            data = self._serial.read(self._serial.in_waiting or 1)
        except (serial.SerialException, OSError) as exc:
            self.close()
            self._on_lost(exc)
            return
        self._buffer.extend(data)
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if len(raw) > self.max_line_length:
                self._on_overflow(raw)
                continue
            self._on_line(raw.decode("ascii", errors="replace").rstrip("\r"))
        if len(self._buffer) > self.max_line_length:
            self._on_overflow(bytes(self._buffer))
            self._buffer.clear()
