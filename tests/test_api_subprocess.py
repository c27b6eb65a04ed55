"""``parkwatch api`` as the demo runs it: a real process on ``PARKWATCH_API_PORT``.

Events produced to Kafka show up over HTTP within seconds, and SIGTERM shuts
the process down gracefully with exit status 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent, alert_id
from tests.test_api_alerts import ensure_alerts_topic
from tests.test_api_stream import produce

pytestmark = pytest.mark.services

T0 = 1_764_189_600_000


def _wait_for(check: Any, timeout_s: float, what: str, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"parkwatch api exited with {proc.returncode} before {what}:\n{log.read_text()}")
        try:
            result = check()
        except httpx.TransportError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout_s} s\n{log.read_text()[-3000:]}")


@pytest.fixture
def api_process(stack: Settings, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp_path / "api.log"
    env = {
        **os.environ,
        "PARKWATCH_API_DB_URL": f"sqlite:///{tmp_path / 'api.sqlite'}",
        "PARKWATCH_API_AUTH": "off",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "parkwatch", "api"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_events_appear_over_http_and_sigterm_exits_cleanly(
    stack: Settings, api_process: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, log = api_process
    asyncio.run(ensure_alerts_topic(stack))
    site = f"t-{uuid.uuid4().hex[:10]}"
    event = AlertEvent(
        id=alert_id(site, "gw-01", "gas-01", "ch4", "anomaly_score", T0),
        state="open",
        kind="anomaly",
        rule="anomaly_score",
        severity="critical",
        site=site,
        gateway="gw-01",
        device="gas-01",
        point="ch4",
        started_ms=T0,
        updated_ms=T0,
        value=87.1,
        score=0.998,
        expected_low=10.2,
        expected_high=14.9,
        message="ch4 = 87.1, expected 10.2..14.9",
    )
    with httpx.Client(base_url=stack.api_url, timeout=5.0) as client:

        def connected() -> bool:
            return bool(client.get("/healthz").json()["consumer"]["connected"])

        _wait_for(connected, 40.0, "consumer connected", proc, log)
        asyncio.run(produce(stack, event))

        def listed() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = client.get("/api/v1/alerts", params={"site": site}).json()["items"]
            return items or None

        items = _wait_for(listed, 10.0, "event listed", proc, log)
        expected = json.loads(event.encode())
        del expected["v"]
        assert items == [expected]
        assert client.get(f"/api/v1/alerts/{event.id}").json()["history"][0]["state"] == "open"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0, log.read_text()
    assert "Application shutdown complete" in log.read_text()


def test_cli_creates_the_first_admin_and_a_token_that_the_server_accepts(
    stack: Settings, tmp_path: Path
) -> None:
    env = {**os.environ, "PARKWATCH_API_DB_URL": f"sqlite:///{tmp_path / 'api.sqlite'}"}

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "parkwatch", "api", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    cli("users", "add", "ada", "--role", "admin")
    cli("users", "add", "ines", "--role", "inspector", "--site", "north")
    token = cli("tokens", "create", "ada", "--expires-days", "1")
    assert token.startswith("pw_")
    assert "ines" in cli("users", "list")
    duplicate = subprocess.run(
        [sys.executable, "-m", "parkwatch", "api", "users", "add", "ada", "--role", "viewer"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert duplicate.returncode == 1 and "exists already" in duplicate.stderr
    for bad in (["ada lovelace", "--role", "viewer"], ["x" * 65, "--role", "viewer"],
                ["ivo", "--role", "inspector", "--site", "north/../south"]):  # fmt: skip
        refused = subprocess.run(
            [sys.executable, "-m", "parkwatch", "api", "users", "add", *bad],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode == 1 and "is not" in refused.stderr, refused.stderr

    import sqlite3

    with sqlite3.connect(tmp_path / "api.sqlite") as conn:
        stored = [row[0] for row in conn.execute("SELECT secret_sha256 FROM tokens")]
        audited = [row[0] for row in conn.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert token not in stored and len(stored[0]) == 64
    assert audited == ["user.create", "user.create", "token.create"]
