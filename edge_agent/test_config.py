"""Gateway config loading: shipped configs load; every bad config in testcases/ fails with its exact text.

Each ``testcases/<case>/`` holds a ``gateway.yaml`` (and profiles it needs)
and ``expected.err``, the complete :class:`ConfigError` message. To add a
case, add a folder; paths in messages are relative to the case folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import load_gateway, load_profile
from edge_agent.drivers.modbus_tcp.config import ModbusTcpConfig
from parkwatch.errors import ConfigError

HERE = Path(__file__).parent
REPO = HERE.parent
CASES = sorted(p for p in (HERE / "testcases").iterdir() if p.is_dir())
GATEWAYS = sorted((REPO / "firmware_configs" / "gateways").glob("*.yaml"))
PROFILES = sorted((REPO / "firmware_configs" / "profiles").glob("*.yaml"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_config_is_reported_with_path_and_reason(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case)
    with pytest.raises(ConfigError) as info:
        load_gateway("gateway.yaml")
    assert str(info.value) + "\n" == (case / "expected.err").read_text()


@pytest.mark.parametrize("path", GATEWAYS, ids=[p.stem for p in GATEWAYS])
def test_shipped_gateway_configs_load(path: Path) -> None:
    gateway = load_gateway(path)
    assert gateway.config.devices
    for device in gateway.config.devices:
        assert isinstance(device, ModbusTcpConfig)
        assert device.profile in gateway.profiles
        assert device.timeout_s <= device.poll_interval_s


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_shipped_profiles_load_and_have_simulator_hints(path: Path) -> None:
    profile = load_profile(path)
    assert all(p.signal is not None for p in profile.points)


def test_durations_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "t.yaml").write_text(
        "name: t\npoints: [{name: v, register: input, address: 0, type: int16}]\n"
    )
    (tmp_path / "gw.yaml").write_text(
        "site: s\ngateway: g\nprofiles_dir: profiles\nuplink: {frame_interval: 250ms}\n"
        "devices: [{id: d, driver: modbus_tcp, host: h, profile: t, poll_interval: 2m}]\n"
    )
    gateway = load_gateway(tmp_path / "gw.yaml")
    device = gateway.config.devices[0]
    assert isinstance(device, ModbusTcpConfig)
    assert (device.poll_interval_s, device.timeout_s, device.port, device.unit_id) == (120.0, 1.0, 502, 1)
    assert gateway.config.uplink.frame_interval_s == 0.25
    assert gateway.config.uplink.max_readings_per_frame == 5000


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_gateway(tmp_path / "nope.yaml")


def test_profile_name_must_match_file(tmp_path: Path) -> None:
    path = tmp_path / "gas.yaml"
    path.write_text("name: other\npoints: [{name: v, register: input, address: 0, type: int16}]\n")
    with pytest.raises(ConfigError, match="must match the file name 'gas'"):
        load_profile(path)
