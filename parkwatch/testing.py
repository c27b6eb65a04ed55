"""Helpers for tests and benchmarks that run the real services on free ports.

:func:`isolated_stack` starts a private stack (its own state directory and
ports) so tests, benchmarks and a running demo never step on each other.
The ``PARKWATCH_*`` variables it sets are inherited by subprocesses, so a
component started with ``parkwatch ...`` talks to the same stack.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from parkwatch.settings import Settings
from parkwatch.stack import stack_down, stack_up

__all__ = ["free_port", "isolated_stack"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def isolated_stack(state_dir: Path) -> Iterator[Settings]:
    """Start Mosquitto, Tansu and InfluxDB on free ports; stop them afterwards."""
    env = {
        "PARKWATCH_STATE_DIR": str(state_dir),
        "PARKWATCH_MQTT_PORT": str(free_port()),
        "PARKWATCH_KAFKA_PORT": str(free_port()),
        "PARKWATCH_INFLUX_PORT": str(free_port()),
        "PARKWATCH_INFLUX_RPC_PORT": str(free_port()),
        "PARKWATCH_API_PORT": str(free_port()),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = Settings()
    try:
        stack_up(settings)
        yield settings
    finally:
        stack_down(settings)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
