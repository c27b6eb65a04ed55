"""A private PostgreSQL server for tests: Debian's ``postgresql`` package, a temp dir, a free port.

:func:`postgres_url` starts one server per process on first use (``initdb`` +
``pg_ctl``, no system cluster touched, fsync off) and stops it and removes its
files at exit. PostgreSQL refuses to run as root, so as root the server runs
as the ``postgres`` user the package creates. If PostgreSQL is not installed
it raises :class:`PostgresUnavailable` with the package to install: the test
suite fails with that message rather than skipping.

Also runnable by hand: ``python -m cloud_api.testing`` prints a URL and serves
until interrupted (``scripts/postgres-test-server`` does that).
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from parkwatch.testing import free_port

__all__ = ["PostgresUnavailable", "PostgresServer", "start_postgres", "postgres_url", "new_database"]


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are missing or the server did not start."""


@dataclass
class PostgresServer:
    bin_dir: Path
    base: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://parkwatch@127.0.0.1:{self.port}/parkwatch"

    def stop(self) -> None:
        subprocess.run(
            [
                *self.run_as,
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.base / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.base, ignore_errors=True)


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no pg_ctl in /usr/lib/postgresql/*/bin or PATH): "
        "apt-get install postgresql (scripts/install-system-deps does)"
    )


def start_postgres() -> PostgresServer:
    """Initialise and start a throw-away server; the caller stops it."""
    bin_dir = _bin_dir()
    base = Path(tempfile.mkdtemp(prefix="parkwatch-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(bin_dir, base, free_port(), run_as)

    def run(*args: str) -> None:
        done = subprocess.run([*run_as, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
            server.stop()
            raise PostgresUnavailable(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}{log}")

    data = base / "data"
    run(
        str(bin_dir / "initdb"), "-D", str(data), "-U", "parkwatch", "--auth=trust", "-E", "UTF8", "--no-sync"
    )
    options = (
        f"-p {server.port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
    )
    run(
        str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w", "start"
    )
    run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "parkwatch", "parkwatch")
    return server


_server: PostgresServer | None = None
_lock = threading.Lock()


def postgres_url() -> str:
    """URL of this process's test server (started on first call, stopped at exit)."""
    global _server
    with _lock:
        if _server is None:
            _server = start_postgres()
            atexit.register(_server.stop)
        return _server.url


def new_database(name: str) -> str:
    """A fresh, empty database on this process's test server; its URL."""
    import psycopg

    base = postgres_url()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + f"/{name}"


if __name__ == "__main__":
    import time

    server = start_postgres()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
