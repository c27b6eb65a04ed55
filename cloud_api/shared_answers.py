"""One computation for identical reads: joined while it runs, and reused for a few seconds.

Screens poll: a wall's sparklines, its alarm figures, several inspectors opening
one alert. Answers that may be a few seconds old can be computed once and
handed to everyone who asks for the same thing meanwhile. A failed or cancelled
computation is not kept (the next caller tries again), and a caller that goes
away does not cancel a computation others wait for.

    >>> calls = []
    >>> async def square(x):
    ...     calls.append(x)
    ...     await asyncio.sleep(0)
    ...     return x * x
    >>> shared = SharedAnswers()
    >>> async def three_screens():
    ...     return await asyncio.gather(*(shared.get(("sq", 4), lambda: square(4), 2.0) for _ in range(3)))
    >>> asyncio.run(three_screens()), calls
    ([16, 16, 16], [4])
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SharedAnswers"]

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class SharedAnswers(Generic[_K, _V]):
    """Computations by key; see the module docstring.

    At most ``entries_max`` are remembered: beyond it, the finished ones past their
    time are forgotten. ``clock`` is the monotonic clock that ages answers.
    """

    def __init__(self, entries_max: int = 1000, clock: Callable[[], float] = time.monotonic) -> None:
        self.entries_max = entries_max
        self.clock = clock
        #: key -> (monotonic time begun, how long its answer serves, the computation).
        self._entries: dict[_K, tuple[float, float, asyncio.Future[_V]]] = {}

    async def get(self, key: _K, compute: Callable[[], Awaitable[_V]], keep_s: float) -> _V:
        """``compute()``'s answer, shared with identical calls while it runs and ``keep_s`` after
        it began (0: only while it runs)."""
        now_s = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry[2].get_loop() is asyncio.get_running_loop():
            began_s, kept_s, answer = entry
            if not answer.done() or now_s - began_s < kept_s:
                return await asyncio.shield(answer)
        if len(self._entries) >= self.entries_max:
            self._entries = {
                k: (began_s, kept_s, f)
                for k, (began_s, kept_s, f) in self._entries.items()
                if not f.done() or now_s - began_s < kept_s
            }
        answer = asyncio.ensure_future(compute())
        self._entries[key] = (now_s, keep_s, answer)

        def forget_failure(done: asyncio.Future[_V]) -> None:
            entry = self._entries.get(key)
            if (done.cancelled() or done.exception() is not None) and entry is not None and entry[2] is done:
                del self._entries[key]

        answer.add_done_callback(forget_failure)
        return await asyncio.shield(answer)

    def clear(self) -> None:
        self._entries.clear()
