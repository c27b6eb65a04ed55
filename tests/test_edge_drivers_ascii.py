"""Serial ASCII sensors over a real pty pair: polled and streaming, with garbage on the line."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.drivers.serial_ascii import SerialAsciiConfig, build_serial_ascii
from edge_agent.drivers.serial_ascii.driver import SerialAsciiPolledDriver, SerialAsciiStreamDriver
from edge_agent.runner import DeviceRunner
from field_sim.ascii_sensor import AsciiSensorSim
from field_sim.pty_pair import PtyPair
from parkwatch.wire.frames import Reading

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")

PATTERN = r"^T=(?P<t>-?[0-9.]+)C RH=(?P<rh>[0-9.]+)%$"


@pytest.fixture
def line(tmp_path: Path) -> Iterator[PtyPair]:
    with PtyPair(tmp_path, "ascii") as pair:
        yield pair


def config(port: str, **kw: object) -> SerialAsciiConfig:
    return SerialAsciiConfig.model_validate(
        {"id": "th-01", "driver": "serial_ascii", "port": port, "pattern": PATTERN, "timeout": "500ms",
         "points": [{"name": "temp", "group": "t", "unit": "degC"},
                    {"name": "rh", "scale": 0.01, "unit": "1"}], **kw}
    )  # fmt: skip


def test_polled_sensor_answers_are_parsed_and_garbage_counted(line: PtyPair) -> None:
    answers = iter(["T=21.50C RH=48.2%\r\n", "#@!\x07junk\r\n", "T=-3.25C RH=91.0%\r\n"])
    device = config(line.agent_end, mode="poll", poll_command="R\r\n")
    driver = build_serial_ascii(device, {})
    assert isinstance(driver, SerialAsciiPolledDriver)
    polls: list[list[Reading]] = []

    async def main() -> DeviceRunner:
        sensor = AsciiSensorSim(line.device_end, lambda: next(answers))
        await sensor.start()
        runner = DeviceRunner(device, driver, lambda _id, rs: polls.append(rs))
        try:
            for _ in range(3):
                assert await runner.poll_once()
            assert sensor.requests == 3
        finally:
            await driver.close()
            await sensor.stop()
        return runner

    runner = asyncio.run(main())
    assert [(r.point, r.quality) for r in polls[0]] == [("temp", "good"), ("rh", "good")]
    assert [r.value for r in polls[0]] == pytest.approx([21.5, 0.482])
    assert [r.quality for r in polls[1]] == ["bad", "bad"]
    assert [r.value for r in polls[2]] == pytest.approx([-3.25, 0.91])
    assert driver.counters.parse_errors == 1 and driver.counters.messages == 3
    assert runner.counters.bad_readings == 2 and runner.counters.errors == 0


def test_silent_polled_sensor_is_a_timeout(line: PtyPair) -> None:
    device = config(line.agent_end, mode="poll", poll_command="R\r\n", timeout="200ms")
    driver = build_serial_ascii(device, {})
    assert isinstance(driver, SerialAsciiPolledDriver)

    async def main() -> DeviceRunner:
        runner = DeviceRunner(device, driver, lambda _id, rs: None)
        assert not await runner.poll_once()
        await driver.close()
        return runner

    assert asyncio.run(main()).counters.timeouts == 1


def test_streaming_sensor_lines_become_readings_and_garbage_is_skipped(line: PtyPair) -> None:
    device = config(line.agent_end, mode="stream", max_line_length=64)
    driver = build_serial_ascii(device, {})
    assert isinstance(driver, SerialAsciiStreamDriver)
    got: list[list[Reading]] = []

    async def main() -> None:
        sensor = AsciiSensorSim(line.device_end, lambda: "")
        await sensor.start()
        await driver.start(got.append)
        try:
            sensor.send("T=20.00C RH=50.0%\r\n")
            sensor.send(b"\xff\xfe\x00garbage\r\n")  # noise
            sensor.send("T=20.10C RH=5")  # a line split across writes
            await asyncio.sleep(0.05)
            sensor.send("0.5%\r\n")
            sensor.send("x" * 200 + "\n")  # babbling without line ends
            sensor.send("T=abcC RH=50.0%\r\nT=20.20C RH=51.0%\n")
            for _ in range(100):
                if len(got) >= 3:
                    break
                await asyncio.sleep(0.02)
        finally:
            await driver.stop()
            await sensor.stop()

    asyncio.run(main())
    values = [r.value for rs in got for r in rs]
    assert values == pytest.approx([20.0, 0.5, 20.1, 0.505, 20.2, 0.51])
    assert driver.counters.parse_errors == 3
    assert driver.counters.messages == 5
