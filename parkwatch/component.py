"""One ``parkwatch`` subcommand in a subprocess, its output in a log file.

Used by the local park (``parkwatch demo``), the benchmarks and the tests that
run components as they run in production: separate processes, stopped with
SIGTERM so they drain and commit, or killed with SIGKILL to test recovery.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

__all__ = ["Component"]


class Component:
    """``python -m parkwatch ARGS``; :meth:`start` runs it, :meth:`stop` ends it."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, env: Mapping[str, str], *, own_session: bool = False) -> None:
        """Run it with ``env``. ``own_session``: Ctrl-C in the terminal does not reach it (a
        supervisor then stops its components in order)."""
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed by stop() and kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parkwatch", *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=own_session,
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, wait for a clean exit, SIGKILL if it hangs; the exit code (None: never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye to the consumer group."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def wait_for_log(self, text: str, timeout_s: float) -> None:
        """Wait until ``text`` appears in the log; AssertionError with the log's tail otherwise
        (also as soon as the process has exited without writing it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            if not self.alive:
                break
            time.sleep(0.1)
        command = " ".join(self.args)
        raise AssertionError(f"{text!r} not in the log of parkwatch {command}:\n{self.log_tail()}")

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
