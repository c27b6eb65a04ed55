"""Run a :class:`~field_sim.simulator.FieldSimulator` in a background thread.

For synchronous callers (pytest, benchmarks, the demo) that need the devices
listening while they do something else::

    with SimulatorThread(FieldSimulator([gateway], tick_s=0.2)) as sim:
        sim.inject(Anomaly("spike", "gas-01", "ch4"))
        ...  # the devices answer on their configured ports

The thread owns its own event loop; leaving the block stops the servers and
joins the thread.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from field_sim.simulator import FieldSimulator

__all__ = ["SimulatorThread"]


class SimulatorThread:
    """Context manager: the simulator listens inside the block, on a thread of its own."""

    def __init__(self, simulator: FieldSimulator, start_timeout_s: float = 10.0) -> None:
        self.simulator = simulator
        self.start_timeout_s = start_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="field-sim", daemon=True)

    def __enter__(self) -> FieldSimulator:
        self._thread.start()
        if not self._ready.wait(self.start_timeout_s):
            raise TimeoutError("simulator did not start listening in time")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.simulator

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.simulator.start()
        except BaseException as exc:  # handed to the caller's thread by __enter__
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self.simulator.run(self._stop)
