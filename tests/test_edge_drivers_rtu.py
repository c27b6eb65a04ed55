"""Modbus RTU over a real serial line: pymodbus slaves on one end of a socat pty pair, the agent
on the other.

Four slaves share one line: values decode exactly, a dead and a slow slave
do not cost the healthy ones their cadence, a dead slave that comes back is
read again, and noise, CRC errors and exception responses are counted
without stopping anything.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edge_agent.config import Gateway, load_gateway
from edge_agent.drivers.modbus_rtu import ModbusRtuDriver
from edge_agent.runner import DeviceRunner
from field_sim.pty_pair import PtyPair
from field_sim.rtu_slave import RtuBusSimulator
from parkwatch.errors import DeviceTimeout
from parkwatch.wire.frames import Reading

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "firmware_configs" / "profiles"

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")


@pytest.fixture
def line(tmp_path: Path) -> Iterator[PtyPair]:
    with PtyPair(tmp_path, "rs485") as pair:
        yield pair


def bus_gateway(
    path: Path, port: str, devices: list[tuple[str, str, int]], profiles_dir: Path = PROFILES, **extra: object
) -> Gateway:
    doc = {
        "site": "test",
        "gateway": path.stem,
        "profiles_dir": str(profiles_dir),
        "devices": [
            {"id": dev, "driver": "modbus_rtu", "port": port, "baudrate": 19200, "unit_id": unit,
             "profile": profile, "poll_interval": "200ms", "timeout": "1s", "response_timeout": "250ms",
             **extra}
            for dev, profile, unit in devices
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return load_gateway(path)


def test_values_of_every_register_type_decode_exactly(line: PtyPair, tmp_path: Path) -> None:
    devices = [("pump", "pump_station", 1), ("gas", "gas_detector", 2), ("flow", "flow_meter", 3),
               ("power", "power_meter", 4)]  # fmt: skip
    gateway = bus_gateway(tmp_path / "gw.yaml", line.agent_end, devices)

    async def main() -> None:
        sim = RtuBusSimulator(gateway, {line.agent_end: line.device_end}, seed=11)
        await sim.start()
        drivers = [ModbusRtuDriver(d, gateway.profiles) for d in gateway.config.devices]
        try:
            for t_s in (0.0, 3600.0):
                await sim.step(t_s)
                # Fresh drivers: a first read covers every point, also those with a slower poll_interval.
                drivers = [ModbusRtuDriver(d, gateway.profiles) for d in gateway.config.devices]
                for driver in drivers:
                    profile = gateway.profiles[driver.config.profile]
                    readings = await driver.read()
                    assert [r.point for r in readings] == driver.point_names
                    for reading, point in zip(readings, profile.points, strict=True):
                        expected = sim.value(driver.config.id, point.name)
                        assert reading.quality == "good", reading
                        if point.type == "float32":
                            assert reading.value == pytest.approx(expected, rel=1e-6)
                        elif point.type in ("bit", "bool"):
                            assert reading.value == round(expected)
                        else:  # integers round to the register's resolution
                            assert reading.value == pytest.approx(expected, abs=point.scale / 2 + 1e-9)
        finally:
            for driver in drivers:
                await driver.close()
            await sim.stop()

    asyncio.run(main())


def test_dead_and_slow_slaves_do_not_delay_healthy_ones(line: PtyPair, tmp_path: Path) -> None:
    devices = [("ok-1", "gas_detector", 1), ("ok-2", "multigas_detector", 2), ("dead", "gas_detector", 3),
               ("slow", "flow_meter", 4)]  # fmt: skip
    gateway = bus_gateway(tmp_path / "gw.yaml", line.agent_end, devices, max_backoff="1s")
    seen: dict[str, list[Reading]] = {d.id: [] for d in gateway.config.devices}

    def sink(device_id: str, readings: list[Reading]) -> None:
        seen[device_id].extend(readings[:1])

    async def main() -> dict[str, DeviceRunner]:
        sim = RtuBusSimulator(gateway, {line.agent_end: line.device_end}, seed=5)
        await sim.start()
        sim.set_fault("dead", "dead")
        sim.set_fault("slow", "slow", delay_s=0.12)
        runners = {
            d.id: DeviceRunner(d, ModbusRtuDriver(d, gateway.profiles), sink) for d in gateway.config.devices
        }
        stop = asyncio.Event()
        tasks = [asyncio.create_task(r.run(stop)) for r in runners.values()]
        await asyncio.sleep(4.0)
        sim.set_fault("dead", "ok")  # comes back: picked up within max_backoff, no restart
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*tasks)
        await sim.stop()
        return runners

    runners = asyncio.run(main())
    for device_id in ("ok-1", "ok-2"):
        stamps = [r.ts_ms for r in seen[device_id]]
        assert all(r.quality == "good" for r in seen[device_id])
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        # 6 s at 200 ms is 30 polls; the dead slave's timeouts (250 ms) and the slow one's answers
        # (120 ms) may delay a poll, but the grid keeps the cadence: nothing is lost.
        assert len(stamps) >= 27, (device_id, len(stamps), gaps)
        assert max(gaps) < 200 + 450, (device_id, gaps)
        assert sum(gaps) / len(gaps) == pytest.approx(200, abs=25)
        assert runners[device_id].counters.errors == 0
    dead = runners["dead"].counters
    assert dead.timeouts >= 3 and dead.errors == dead.timeouts
    # Backed off: far fewer attempts than the 20 a 200 ms cadence would make in 4 s.
    assert dead.timeouts <= 10
    assert seen["dead"][-1].quality == "good", "the slave that came back is read again"
    assert [r.quality for r in seen["slow"]].count("good") >= 20  # slow but answering: read on


def test_noise_and_crc_errors_are_counted_and_the_next_poll_is_good(line: PtyPair, tmp_path: Path) -> None:
    gateway = bus_gateway(
        tmp_path / "gw.yaml", line.agent_end, [("gas", "gas_detector", 1), ("flow", "flow_meter", 2)]
    )
    out: list[tuple[str, str]] = []

    def record(device_id: str, readings: list[Reading]) -> None:
        out.append((device_id, readings[0].quality))

    async def main() -> tuple[DeviceRunner, DeviceRunner]:
        sim = RtuBusSimulator(gateway, {line.agent_end: line.device_end}, seed=1)
        await sim.start()
        gas, flow = (
            DeviceRunner(d, ModbusRtuDriver(d, gateway.profiles), record) for d in gateway.config.devices
        )
        try:
            assert await gas.poll_once() and await flow.poll_once()
            sim.write_raw(line.agent_end, b"\x00\xff\x13\x37garbage\r\n")  # noise while the line is idle
            assert await gas.poll_once()
            sim.corrupt_next_reply("gas", "crc")
            assert not await gas.poll_once()  # a frame failing its CRC is no answer
            assert await flow.poll_once() and await gas.poll_once()
            sim.corrupt_next_reply("flow", "garbage")
            await flow.poll_once()  # noise before the reply: resynchronised or dropped, never a crash
            assert await flow.poll_once() and await gas.poll_once()
        finally:
            await gas.driver.close()
            await flow.driver.close()
            await sim.stop()
        return gas, flow

    gas, flow = asyncio.run(main())
    assert gas.counters.timeouts == 1 and gas.counters.polls == 5
    assert flow.counters.timeouts <= 1 and flow.counters.polls == 4
    assert out[-2:] == [("flow", "good"), ("gas", "good")]


def test_illegal_address_makes_its_block_bad_and_the_rest_good(line: PtyPair, tmp_path: Path) -> None:
    served = bus_gateway(tmp_path / "served.yaml", line.agent_end, [("gas", "gas_detector", 1)])
    # The agent's profile has a register the device does not implement: a separate block.
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    doc = yaml.safe_load((PROFILES / "gas_detector.yaml").read_text())
    doc["name"] = "gas_detector_v2"
    doc["points"].append({"name": "o2", "register": "input", "address": 40, "type": "uint16"})
    (profiles / "gas_detector_v2.yaml").write_text(yaml.safe_dump(doc))
    agent = bus_gateway(tmp_path / "agent.yaml", line.agent_end, [("gas", "gas_detector_v2", 1)], profiles)

    async def main() -> tuple[list[Reading], DeviceRunner]:
        sim = RtuBusSimulator(served, {line.agent_end: line.device_end})
        await sim.start()
        device = agent.config.devices[0]
        driver = ModbusRtuDriver(device, agent.profiles)
        runner = DeviceRunner(device, driver, lambda i, rs: None)
        try:
            readings = await driver.read()
            for _ in range(3):
                assert await runner.poll_once()
            sim.set_fault("gas", "dead")
            with pytest.raises(DeviceTimeout):
                await driver.read()
        finally:
            await driver.close()
            await sim.stop()
        return readings, runner

    readings, runner = asyncio.run(main())
    assert [(r.point, r.quality) for r in readings] == [
        ("ch4", "good"), ("h2s", "good"), ("fault", "good"), ("o2", "bad")
    ]  # fmt: skip
    assert runner.counters.bad_readings == 3 and runner.counters.errors == 0


def test_a_late_reply_is_not_taken_for_the_next_slaves_answer(line: PtyPair, tmp_path: Path) -> None:
    gateway = bus_gateway(
        tmp_path / "gw.yaml", line.agent_end, [("slow", "flow_meter", 1), ("gas", "gas_detector", 2)],
        late_reply_window="400ms",
    )  # fmt: skip

    async def main() -> list[tuple[str, list[Reading] | str]]:
        sim = RtuBusSimulator(gateway, {line.agent_end: line.device_end}, seed=3)
        await sim.start()
        slow, gas = (ModbusRtuDriver(d, gateway.profiles) for d in gateway.config.devices)
        out: list[tuple[str, list[Reading] | str]] = []
        try:
            sim.set_fault("slow", "slow", delay_s=0.4)  # answers 150 ms after the 250 ms response timeout
            for _ in range(3):
                for name, driver in (("slow", slow), ("gas", gas)):
                    try:
                        out.append((name, await driver.read()))
                    except DeviceTimeout as exc:
                        out.append((name, str(exc)))
            sim.set_fault("slow", "ok")
            out.append(("slow", await slow.read()))
            out.append(("gas", await gas.read()))
        finally:
            await slow.close()
            await gas.close()
            await sim.stop()
        return out

    out = asyncio.run(main())
    assert [isinstance(result, str) for _, result in out] == [True, False] * 3 + [False, False], out
    profiles = {"slow": gateway.profiles["flow_meter"], "gas": gateway.profiles["gas_detector"]}
    for name, result in out:
        if isinstance(result, list):  # each answer is the asked slave's, complete and good
            assert [(r.point, r.quality) for r in result] == [(p.name, "good") for p in profiles[name].points]


def test_slow_points_are_read_less_often_and_reads_stay_within_the_profile_limit(
    line: PtyPair, tmp_path: Path
) -> None:
    served = bus_gateway(tmp_path / "served.yaml", line.agent_end, [("gas", "gas_detector", 1)])
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    doc = yaml.safe_load((PROFILES / "gas_detector.yaml").read_text())
    doc["name"] = "gas_detector_slow_h2s"
    doc["max_registers_per_read"] = 2  # this instrument refuses longer reads
    doc["points"][1]["poll_interval"] = "600ms"  # h2s every third poll
    (profiles / "gas_detector_slow_h2s.yaml").write_text(yaml.safe_dump(doc))
    agent = bus_gateway(
        tmp_path / "agent.yaml", line.agent_end, [("gas", "gas_detector_slow_h2s", 1)], profiles
    )
    device = agent.config.devices[0]
    driver = ModbusRtuDriver(device, agent.profiles)
    # ch4 (2 registers) and fault (1) every poll: two blocks, as ch4+fault are not contiguous; h2s alone.
    assert [[(b.start, b.count) for b in blocks] for blocks in driver.schedule.intervals()] == [
        [(0, 2), (4, 1)], [(2, 2)]
    ]  # fmt: skip
    polls: list[list[Reading]] = []

    async def main() -> None:
        sim = RtuBusSimulator(served, {line.agent_end: line.device_end})
        await sim.start()
        runner = DeviceRunner(device, driver, lambda _id, rs: polls.append(rs))
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await asyncio.sleep(2.3)
        stop.set()
        await task
        await sim.stop()

    asyncio.run(main())
    assert all(r.quality == "good" for rs in polls for r in rs)
    ch4 = [rs[0].ts_ms for rs in polls if rs[0].point == "ch4"]
    h2s = [r.ts_ms for rs in polls for r in rs if r.point == "h2s"]
    assert len(ch4) >= 10 and len(polls) == len(ch4)
    assert 3 <= len(h2s) <= 5, (len(ch4), len(h2s))
    gaps = [b - a for a, b in zip(h2s, h2s[1:], strict=False)]
    assert all(500 <= g <= 900 for g in gaps), gaps
