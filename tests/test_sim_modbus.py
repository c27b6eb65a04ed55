"""The field simulator over real Modbus TCP, read by the edge agent's real Modbus driver.

No MQTT here: these check that what the simulator encodes is what the driver
decodes (every shipped profile, so every byte order and type in them), that
anomalies reach the wire, and how the driver reports unmapped registers and
dead devices.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml

from edge_agent.config import Gateway, load_gateway
from edge_agent.drivers.modbus_tcp import ModbusTcpDriver
from edge_agent.register_map import PointSpec
from field_sim.anomalies import Anomaly
from field_sim.simulator import FieldSimulator
from field_sim.threaded import SimulatorThread
from parkwatch.errors import DeviceError
from parkwatch.testing import free_port
from parkwatch.wire.frames import Reading

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "firmware_configs" / "profiles"


def write_gateway(
    path: Path, port: int, devices: list[tuple[str, str, int]], profiles_dir: Path = PROFILES, **extra: object
) -> Gateway:
    """A gateway config with ``(id, profile, unit_id)`` devices on one local port."""
    doc = {
        "site": "test",
        "gateway": path.stem,
        "profiles_dir": str(profiles_dir),
        "devices": [
            {"id": dev, "driver": "modbus_tcp", "host": "127.0.0.1", "port": port, "unit_id": unit,
             "profile": profile, "poll_interval": "200ms", "timeout": "500ms", **extra}
            for dev, profile, unit in devices
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return load_gateway(path)


def read_all(gateway: Gateway, rounds: int = 1, pause_s: float = 0.0) -> list[dict[str, list[Reading]]]:
    async def main() -> list[dict[str, list[Reading]]]:
        drivers = [ModbusTcpDriver(d, gateway.profiles) for d in gateway.config.devices]
        out = []
        for _ in range(rounds):
            out.append({d.config.id: await d.read() for d in drivers})
            await asyncio.sleep(pause_s)
        for d in drivers:
            await d.close()
        return out

    return asyncio.run(main())


def tolerance(point: PointSpec) -> float:
    return abs(point.scale) / 2 + 1e-9 if "int" in point.type else 1e-5


def test_every_profile_decodes_to_the_simulated_value(tmp_path: Path) -> None:
    profiles = sorted(p.stem for p in PROFILES.glob("*.yaml"))
    gateway = write_gateway(
        tmp_path / "all.yaml", free_port(), [(p, p, i + 1) for i, p in enumerate(profiles)]
    )
    # A tick far longer than the test: the served values cannot change between read and compare.
    with SimulatorThread(FieldSimulator([gateway], seed=3, tick_s=3600)) as sim:
        (readings,) = read_all(gateway)
        for device in gateway.config.devices:
            profile = gateway.profiles[device.profile]  # type: ignore[index]
            got = {r.point: r for r in readings[device.id]}
            assert list(got) == [p.name for p in profile.points]
            for point in profile.points:
                reading = got[point.name]
                assert reading.quality == "good", (device.id, reading)
                expected = sim.value(device.id, point.name)
                assert reading.value == pytest.approx(expected, rel=1e-6, abs=tolerance(point)), (
                    device.id,
                    point,
                )
    values = {(device, r.point): r.value or 0.0 for device, rs in readings.items() for r in rs}  # all good
    assert 19.5 < values[("multigas_detector", "o2")] < 23.5  # oxygen near 20.9
    assert values[("temperature_transmitter", "sensor_break")] == 0.0
    assert 0 <= values[("gas_detector", "ch4")] < 5  # gas near zero
    assert 60 < values[("temp_pressure_transmitter", "temperature")] < 110


def test_spike_injected_through_the_python_api_reaches_the_wire(tmp_path: Path) -> None:
    gateway = write_gateway(tmp_path / "spike.yaml", free_port(), [("gas-01", "gas_detector", 1)])
    with SimulatorThread(FieldSimulator([gateway], seed=1, tick_s=0.1)) as sim:
        before = read_all(gateway)[0]["gas-01"][0].value
        # Long enough that the reads in it cannot outlast it on a busy machine.
        sim.inject(Anomaly("spike", "gas-01", "ch4", duration_s=2.0))
        time.sleep(0.25)
        during = [rs["gas-01"][0].value for rs in read_all(gateway, rounds=2, pause_s=0.1)]
        time.sleep(2.0)
        after = read_all(gateway)[0]["gas-01"][0].value
    assert before is not None and before < 5
    assert all(v is not None and v >= 35 for v in during), during  # +40 %LEL of a 0..100 range
    assert after is not None and after < 5
    (truth,) = sim.truth
    assert truth["kind"] == "spike" and truth["magnitude"] == 40.0
    assert isinstance(truth["end_ms"], int) and isinstance(truth["start_ms"], int)
    assert truth["end_ms"] - truth["start_ms"] == 2000


def test_unmapped_registers_are_bad_and_the_rest_stays_good(tmp_path: Path) -> None:
    sim_gateway = write_gateway(
        tmp_path / "sim.yaml", free_port(), [("pt-01", "temp_pressure_transmitter", 1)]
    )
    # The agent's profile expects one more register than the device has.
    agent_profiles = tmp_path / "agent_profiles"
    agent_profiles.mkdir()
    profile = yaml.safe_load((PROFILES / "temp_pressure_transmitter.yaml").read_text())
    profile["points"].append({"name": "level", "register": "holding", "address": 40, "type": "uint16"})
    (agent_profiles / "temp_pressure_transmitter.yaml").write_text(yaml.safe_dump(profile))
    port = sim_gateway.config.devices[0].port  # type: ignore[attr-defined]
    agent_gateway = write_gateway(
        tmp_path / "agent.yaml",
        port,
        [("pt-01", "temp_pressure_transmitter", 1)],
        profiles_dir=agent_profiles,
    )
    with SimulatorThread(FieldSimulator([sim_gateway], tick_s=3600)):
        (readings,) = read_all(agent_gateway)
    quality = {r.point: r.quality for r in readings["pt-01"]}
    assert quality == {
        "temperature": "good",
        "pressure": "good",
        "sensor_temperature": "good",
        "level": "bad",
    }


def test_nothing_listening_is_a_device_error(tmp_path: Path) -> None:
    gateway = write_gateway(tmp_path / "dead.yaml", free_port(), [("dead-01", "gas_detector", 1)])
    started = time.monotonic()
    with pytest.raises(DeviceError, match=r"device dead-01 \(127\.0\.0\.1:\d+ unit 1\): cannot connect"):
        read_all(gateway)
    assert time.monotonic() - started < 2


def test_same_seed_same_values(tmp_path: Path) -> None:
    gateway = write_gateway(tmp_path / "seed.yaml", free_port(), [("pt-01", "temp_pressure_transmitter", 1)])

    def run(seed: int) -> list[float]:
        sim = FieldSimulator(
            [gateway], seed=seed, anomalies=[Anomaly("drift", "pt-01", "pressure", at_s=2.0)]
        )
        values = []
        for _ in range(6):
            sim.step()
            values += [sim.value("pt-01", p) for p in ("temperature", "pressure", "sensor_temperature")]
        return values

    assert run(7) == run(7)
    assert run(7) != run(8)
