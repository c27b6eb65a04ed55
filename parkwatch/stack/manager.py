"""Start, stop and probe the local stack, idempotently, with pid files in the state directory.

Layout of the state directory (``PARKWATCH_STATE_DIR``, default ``.parkwatch``)::

    <state>/<service>/        config, data and log of one service
    <state>/<service>.pid     pid of the process we started

``stack_up`` leaves a healthy service alone (ours or someone else's on the
same port), starts the others and waits until each answers its health probe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from parkwatch.errors import StackError
from parkwatch.settings import Settings
from parkwatch.stack.services import Service, require, services_for

__all__ = ["ServiceStatus", "stack_up", "stack_down", "stack_status"]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "running", "running (not started by parkwatch)", "stopped", "unhealthy"
    pid: int | None
    endpoint: str


def _pid_file(settings: Settings, service: Service) -> Path:
    return settings.state_dir / f"{service.name}.pid"


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _status(settings: Settings, service: Service) -> ServiceStatus:
    pid = _read_pid(_pid_file(settings, service))
    healthy = service.healthy()
    if healthy:
        state = "running" if pid else "running (not started by parkwatch)"
    else:
        state = "unhealthy" if pid else "stopped"
    return ServiceStatus(service.name, state, pid, service.endpoint)


def stack_status(settings: Settings) -> list[ServiceStatus]:
    return [_status(settings, s) for s in services_for(settings)]


def _start(settings: Settings, service: Service, timeout_s: float) -> ServiceStatus:
    exe = require(service)
    home = (settings.state_dir / service.name).resolve()
    home.mkdir(parents=True, exist_ok=True)
    argv = service.prepare(exe, home)
    log = open(home / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the CLI and Ctrl-C in its terminal
    )
    _pid_file(settings, service).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (home / "stdout.log").read_text(errors="replace")[-2000:]
            raise StackError(f"{service.name} exited with {proc.returncode} on start:\n{tail}")
        if service.healthy():
            return ServiceStatus(service.name, "running", proc.pid, service.endpoint)
        time.sleep(0.2)
    raise StackError(
        f"{service.name} did not become healthy within {timeout_s:.0f}s; see {home}/stdout.log"
    )


def stack_up(settings: Settings, timeout_s: float = 60.0) -> list[ServiceStatus]:
    """Start what is not running; fails early, before starting anything, if a service is missing."""
    services = services_for(settings)
    for service in services:
        require(service)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    result = []
    for service in services:
        current = _status(settings, service)
        if current.state.startswith("running"):
            result.append(current)
            continue
        if current.pid:  # ours but unhealthy: restart it
            _terminate(current.pid)
        result.append(_start(settings, service, timeout_s))
    return result


def _terminate(pid: int, timeout_s: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap it if it is our child (stack up and down in one process, as in tests)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stack_down(settings: Settings) -> list[ServiceStatus]:
    """Stop the services this state directory started (in reverse order); leaves others alone."""
    result = []
    for service in reversed(services_for(settings)):
        pid_file = _pid_file(settings, service)
        pid = _read_pid(pid_file)
        if pid:
            _terminate(pid)
        pid_file.unlink(missing_ok=True)
        result.append(ServiceStatus(service.name, "stopped", None, service.endpoint))
    return list(reversed(result))
