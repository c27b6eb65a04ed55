"""``parkwatch stack``: real services come up healthy, repeat calls are harmless."""

from __future__ import annotations

import subprocess
import sys

import pytest

from parkwatch.errors import StackError
from parkwatch.influxql import ensure_database, influxql
from parkwatch.settings import Settings
from parkwatch.stack import stack_status, stack_up
from parkwatch.stack.services import require, services_for


def test_every_service_is_healthy(stack: Settings) -> None:
    assert [s.state for s in stack_status(stack)] == ["running"] * 3


def test_up_is_idempotent(stack: Settings) -> None:
    before = {s.name: s.pid for s in stack_status(stack)}
    after = {s.name: s.pid for s in stack_up(stack)}
    assert before == after


def test_influx_answers_influxql(stack: Settings) -> None:
    ensure_database(stack)
    names = [row[0] for row in influxql(stack, "SHOW DATABASES")[0]["values"]]
    assert stack.influx_db in names


def test_status_command_exit_code(stack: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "parkwatch", "stack", "status"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "mosquitto" in result.stdout and "running" in result.stdout


def test_missing_executable_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    influx = services_for(Settings())[2]
    with pytest.raises(StackError, match="apt-get install influxdb"):
        require(influx)
