"""Fixtures shared by the cross-component tests: one private stack per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parkwatch.settings import Settings
from parkwatch.testing import isolated_stack
from stream_processor.testing import Component


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Real Mosquitto, Tansu and InfluxDB on free ports for this test session."""
    state: Path = tmp_path_factory.mktemp("stack")
    with isolated_stack(state) as settings:
        yield settings


@pytest.fixture(scope="module")
def rules_worker(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Component]:
    """A ``parkwatch processor worker`` subprocess for one test module, polling rules every 200 ms
    and sweeping every second, started once it has loaded the rules and holds its partitions."""
    home = tmp_path_factory.mktemp("worker")
    config = home / "processor.yaml"
    config.write_text("rules:\n  poll: 200ms\n  sweep_interval: 1s\n")
    proc = Component(["processor", "worker", "--config", str(config)], home / "worker.log")
    try:
        proc.wait_for_log("rules loaded", 60)
        proc.wait_for_log("assigned readings partitions", 60)
        yield proc
    finally:
        proc.stop()
