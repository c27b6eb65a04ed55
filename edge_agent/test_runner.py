"""Runner semantics with a scripted driver: comm_loss on failure, timeouts, backoff, recovery.

The driver here is a test double of the small :class:`PolledDriver` contract;
the real Modbus driver against the simulator is exercised in tests/.
"""

from __future__ import annotations

import asyncio
import time

from edge_agent.drivers.base import DeviceConfig
from edge_agent.runner import DeviceRunner
from parkwatch.errors import DeviceError
from parkwatch.wire.frames import Reading


class ScriptedDriver:
    """Answers per a script: "ok", "error" or "hang" for each successive read."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.calls: list[float] = []
        self.closed = 0

    @property
    def point_names(self) -> list[str]:
        return ["a", "b"]

    async def read(self) -> list[Reading]:
        self.calls.append(time.monotonic())
        step = self.script.pop(0) if self.script else "ok"
        if step == "error":
            raise DeviceError("connection refused")
        if step == "hang":
            await asyncio.sleep(10)
        ts = time.time_ns() // 1_000_000
        return [Reading("a", ts, 1.0, "good"), Reading("b", ts, None, "bad")]

    async def close(self) -> None:
        self.closed += 1


def config(**kw: str) -> DeviceConfig:
    return DeviceConfig.model_validate({"id": "dev", "driver": "scripted", **kw})


def run_for(runner: DeviceRunner, seconds: float) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task

    asyncio.run(main())


def test_failures_report_comm_loss_back_off_and_recover() -> None:
    got: list[tuple[str, list[Reading]]] = []
    driver = ScriptedDriver(["error", "error", "error", "ok"])
    cfg = config(poll_interval="100ms", timeout="80ms", max_backoff="300ms")
    runner = DeviceRunner(cfg, driver, lambda d, r: got.append((d, r)))
    run_for(runner, 1.05)
    # Attempts at 0, 100, 300 (backoff 200), 600 (backoff 400 capped at 300), then every 100 ms.
    gaps = [round((b - a) * 1000) for a, b in zip(driver.calls, driver.calls[1:], strict=False)]
    assert [round(g, -2) for g in gaps[:3]] == [100, 200, 300], gaps
    assert all(60 <= g <= 160 for g in gaps[3:]), gaps
    assert len(gaps) >= 5
    losses = [r for _, r in got[:3]]
    assert all(x.quality == "comm_loss" and x.value is None for r in losses for x in r)
    assert [x.point for x in losses[0]] == ["a", "b"]
    assert got[3][1][0].quality == "good"
    c = runner.counters
    assert (c.errors, c.timeouts, c.consecutive_failures) == (3, 0, 0)
    assert c.polls == len(driver.calls) and c.bad_readings == len(got) - 3
    assert runner.online and driver.closed == 1


def test_a_hanging_read_is_cut_off_at_the_timeout() -> None:
    got: list[list[Reading]] = []
    driver = ScriptedDriver(["hang"])
    runner = DeviceRunner(config(poll_interval="100ms", timeout="50ms"), driver, lambda d, r: got.append(r))
    started = time.monotonic()
    run_for(runner, 0.35)
    assert got[0][0].quality == "comm_loss"
    assert runner.counters.timeouts == 1 and runner.counters.errors == 1
    assert driver.calls[1] - started < 0.3  # the next poll came on schedule, not after the 10 s hang
    assert got[1][0].quality == "good"


def test_retries_hide_a_single_failure_but_not_a_dead_device() -> None:
    driver = ScriptedDriver(["error", "ok", "hang", "error", "ok"])
    out: list[list[Reading]] = []
    runner = DeviceRunner(config(retries="1", timeout="100ms"), driver, lambda _id, rs: out.append(rs))

    async def main() -> list[bool]:
        return [await runner.poll_once() for _ in range(3)]

    assert asyncio.run(main()) == [True, False, True]
    c = runner.counters
    assert (c.polls, c.errors, c.timeouts, c.retries) == (3, 1, 0, 2)
    assert [[r.quality for r in rs] for rs in out] == [
        ["good", "bad"],
        ["comm_loss", "comm_loss"],
        ["good", "bad"],
    ]
