"""Push runner semantics with a fake push driver: start retries, stale vs comm_loss, stop."""

from __future__ import annotations

import asyncio

from edge_agent.drivers.base import DeviceConfig, MessageCounters, PushDriver, ReadingsSink
from edge_agent.push_runner import PushRunner
from parkwatch.errors import DeviceError
from parkwatch.wire.frames import Reading


class FakePushDriver:
    """Fails ``failures`` starts, then listens; ``emit`` plays the device."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sink: ReadingsSink | None = None
        self.stopped = 0
        self._counters = MessageCounters()

    @property
    def point_names(self) -> list[str]:
        return ["a", "b"]

    @property
    def counters(self) -> MessageCounters:
        return self._counters

    async def start(self, sink: ReadingsSink) -> None:
        if self.failures:
            self.failures -= 1
            raise DeviceError("broker not up")
        self.sink = sink

    async def stop(self) -> None:
        self.sink = None
        self.stopped += 1

    def emit(self, *points: str) -> None:
        assert self.sink is not None
        self.sink([Reading(p, 0, 1.0, "good") for p in points])


def config() -> DeviceConfig:
    return DeviceConfig.model_validate({"id": "dev", "driver": "fake", "poll_interval": "50ms"})


def test_a_failed_start_is_comm_loss_and_retried_until_it_listens() -> None:
    driver = FakePushDriver(failures=2)
    assert isinstance(driver, PushDriver)
    got: list[list[Reading]] = []
    runner = PushRunner(config(), driver, lambda _id, rs: got.append(rs))

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        for _ in range(100):  # attempts at 0, 50 ms, 150 ms; up to 5 s on a busy machine
            if runner.started and runner.online:
                break
            await asyncio.sleep(0.05)
        assert runner.started and runner.online
        driver.emit("a", "b")
        stop.set()
        await task

    asyncio.run(main())
    assert (runner.counters.start_errors, runner.counters.starts, driver.stopped) == (2, 1, 1)
    assert [[r.quality for r in rs] for rs in got] == [["comm_loss"] * 2] * 2 + [["good", "good"]]
    assert not runner.started


def test_a_point_silent_beside_a_talking_one_is_stale_and_all_silent_is_comm_loss() -> None:
    driver = FakePushDriver()
    got: list[list[Reading]] = []
    runner = PushRunner(config(), driver, lambda _id, rs: got.append(rs), stale_after_s=1.0)

    async def main() -> None:
        assert await runner._try_start()

    asyncio.run(main())
    t0 = min(runner._last_seen.values())
    driver.emit("a")  # "b" never reports
    runner._last_seen["a"] = t0 + 0.8
    runner.check_stale(t0 + 0.5)
    assert got[-1][0].point == "a"  # nothing stale yet
    runner.check_stale(t0 + 1.0)
    assert [(r.point, r.value, r.quality) for r in got[-1]] == [("b", None, "stale")]
    assert not runner.online
    runner.check_stale(t0 + 1.5)  # reported once per stale_after
    assert len(got) == 2
    runner.check_stale(t0 + 2.0)  # now "a" is silent too: the device went quiet
    assert [(r.point, r.quality) for r in got[-1]] == [("a", "comm_loss"), ("b", "comm_loss")]
    driver.emit("a", "b")
    assert runner.online and runner.counters.stale_reports == 2
