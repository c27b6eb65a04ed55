"""Two connected pseudo-terminals made by ``socat``: a serial cable for tests and demos.

Bytes written to one end come out of the other, as on a null-modem cable,
so a simulated slave on one end and the edge agent on the other talk
through real tty devices (termios, pyserial, pymodbus' serial transport).

>>> import shutil, tempfile
>>> if shutil.which("socat"):
...     with tempfile.TemporaryDirectory() as tmp, PtyPair(tmp) as pair:
...         ok = Path(pair.device_end).exists() and Path(pair.agent_end).exists()
... else:
...     ok = True
>>> ok
True
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from parkwatch.errors import StackError

__all__ = ["PtyPair"]


class PtyPair:
    """``socat`` linking ``<directory>/<name>-device`` and ``<directory>/<name>-agent``.

    Use as a context manager; the socat process is ended on exit.
    """

    def __init__(self, directory: str | Path, name: str = "tty", start_timeout_s: float = 5.0) -> None:
        self.directory = Path(directory)
        self.device_end = str(self.directory / f"{name}-device")
        self.agent_end = str(self.directory / f"{name}-agent")
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> PtyPair:
        socat = shutil.which("socat")
        if socat is None:
            raise StackError("socat is not installed (Debian: apt-get install socat)")
        self._process = subprocess.Popen(
            [
                socat,
                f"pty,raw,echo=0,link={self.device_end}",
                f"pty,raw,echo=0,link={self.agent_end}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.start_timeout_s
        while not (Path(self.device_end).exists() and Path(self.agent_end).exists()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise StackError(f"socat did not create {self.device_end} and {self.agent_end}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> PtyPair:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
