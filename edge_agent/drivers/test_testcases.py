"""Every driver's bad configs, as data: ``<driver>/testcases/<case>/gateway.yaml`` and ``expected.err``.

``expected.err`` is the complete :class:`ConfigError` text, with paths
relative to the case folder. To add a case, add a folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import load_gateway
from edge_agent.drivers.registry import lookup
from parkwatch.errors import ConfigError

HERE = Path(__file__).parent
CASES = sorted(p for p in HERE.glob("*/testcases/*") if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parts[-3]}/{c.name}" for c in CASES])
def test_bad_config_is_reported_with_file_field_and_reason(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(case)
    with pytest.raises(ConfigError) as info:
        gateway = load_gateway("gateway.yaml")
        # Some checks span devices (one serial line): build all and keep them, as the agent does.
        drivers = [lookup(d.driver).build(d, gateway.profiles) for d in gateway.config.devices]
        assert drivers
    assert str(info.value) + "\n" == (case / "expected.err").read_text()
