"""Helpers for tests and benchmarks of the edge agent: a private Mosquitto that can be stopped.

Outage tests and the replay benchmark must stop and restart the broker
without disturbing the shared session stack (:mod:`parkwatch.testing`), so
they run their own on a free port::

    with PrivateBroker(tmp_path) as broker:     # listening on broker.port
        broker.stop()                            # SIGTERM: sessions saved to disk
        broker.start()                           # same port, sessions restored

Persistence is on, so a subscriber with ``clean_session=False`` keeps its
queue across the restart. ``password_file`` turns anonymous access off;
``tls`` (:class:`BrokerTls`) makes the listener TLS-only, optionally
requiring a client certificate signed by the same CA.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from parkwatch.errors import StackError
from parkwatch.testing import free_port

__all__ = ["BrokerTls", "PrivateBroker", "wait_listening"]


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """Files of a TLS listener; ``cafile`` also verifies client certificates when they are required."""

    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False


def wait_listening(port: int, timeout_s: float = 15) -> None:
    """Block until something accepts TCP connections on ``127.0.0.1:port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


class PrivateBroker:
    """A Mosquitto process of one's own; see the module docstring."""

    def __init__(
        self,
        home: Path,
        port: int | None = None,
        password_file: Path | None = None,
        tls: BrokerTls | None = None,
    ) -> None:
        exe = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if exe is None:
            raise StackError("mosquitto is missing: install the Debian package `mosquitto`")
        self.exe = exe
        self.home = home
        self.port = port or free_port()
        self.home.mkdir(parents=True, exist_ok=True)
        (home / "data").mkdir(exist_ok=True)
        # Mosquitto started as root drops to the ``mosquitto`` user, which could not read password
        # files and certificates in a private temp folder; a test broker may keep root instead.
        for folder in (home, home / "data"):
            folder.chmod(0o777)
        run_as = ["user root"] if os.geteuid() == 0 else []
        auth = [f"password_file {password_file}", "allow_anonymous false"] if password_file else [
            "allow_anonymous true"
        ]  # fmt: skip
        listener = [f"listener {self.port} 127.0.0.1"]
        if tls is not None:
            listener += [
                f"cafile {tls.cafile}",
                f"certfile {tls.certfile}",
                f"keyfile {tls.keyfile}",
                f"require_certificate {'true' if tls.require_certificate else 'false'}",
            ]
        self.conf = home / "mosquitto.conf"
        self.conf.write_text(
            "\n".join(
                [
                    *listener,
                    *run_as,
                    *auth,
                    "persistence true",
                    f"persistence_location {home / 'data'}/",
                    "max_inflight_messages 1000",
                    "max_queued_messages 1000000",
                    "max_queued_bytes 0",
                    "max_packet_size 4194304",
                    f"log_dest file {home / 'mosquitto.log'}",
                    "log_type error",
                    "log_type warning",
                    "",
                ]
            )
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        stderr = self.home / "mosquitto.stderr"
        with stderr.open("wb") as err:
            self._proc = subprocess.Popen(
                [self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=err
            )
        deadline = time.monotonic() + 15
        while True:
            try:
                wait_listening(self.port, 0.2)
                return
            except TimeoutError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise StackError(
                        f"mosquitto did not start: {stderr.read_text(errors='replace')[-500:]}"
                    ) from None

    def stop(self) -> None:
        """SIGTERM and wait: Mosquitto writes its persistence file on the way out."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
