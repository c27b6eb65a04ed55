"""A line-oriented ASCII sensor on the device end of a serial line (a pty pair, say).

It answers every ``command`` line with ``answer()`` (request/response
sensors), and :meth:`AsciiSensorSim.send` puts any bytes on the line
(streaming sensors, noise). Runs on the event loop; the port is a plain
non-blocking file descriptor, as the tty of a real sensor would be.
"""

from __future__ import annotations

import asyncio
import os
import termios
import tty
from collections.abc import Callable

__all__ = ["AsciiSensorSim"]


class AsciiSensorSim:
    """Serves one ASCII sensor on ``port`` until :meth:`stop`."""

    def __init__(self, port: str, answer: Callable[[], str], command: bytes = b"R") -> None:
        self.port = port
        self.answer = answer
        self.command = command
        #: Commands received so far.
        self.requests = 0
        self._fd: int | None = None
        self._buffer = bytearray()

    async def start(self) -> None:
        fd = os.open(self.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd, termios.TCSANOW)
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._readable)

    async def stop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    def send(self, data: bytes | str) -> None:
        """Write ``data`` to the line as is."""
        assert self._fd is not None, "start() first"
        os.write(self._fd, data.encode("ascii") if isinstance(data, str) else data)

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            self._buffer.extend(os.read(self._fd, 1024))
        except BlockingIOError:
            return
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).strip()
            del self._buffer[: end + 1]
            if line == self.command:
                self.requests += 1
                self.send(self.answer())
