"""Fixtures shared by the cross-component tests: one private stack per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parkwatch.settings import Settings
from parkwatch.testing import isolated_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Real Mosquitto, Tansu and InfluxDB on free ports for this test session."""
    state: Path = tmp_path_factory.mktemp("stack")
    with isolated_stack(state) as settings:
        yield settings
