"""A bounded hand-over from one producer thread (paho's) to one asyncio consumer.

paho calls ``on_message`` in its network thread. Waking the event loop once per
message (``call_soon_threadsafe`` each time) costs more than the work itself,
so :meth:`Inbox.put` appends to a deque and schedules at most one wake-up until
the consumer has drained; :meth:`Inbox.take` then returns everything waiting,
up to a batch size. When full, :meth:`put` blocks the producer thread: paho
stops reading its socket and the MQTT broker holds the backlog (QoS 1), rather
than this process growing without bound.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Inbox"]

T = TypeVar("T")


class Inbox(Generic[T]):
    """Thread -> event loop queue with batched wake-ups and a size bound.

    >>> async def demo() -> list[int]:
    ...     inbox: Inbox[int] = Inbox(asyncio.get_running_loop(), max_items=10)
    ...     t = threading.Thread(target=lambda: [inbox.put(i) for i in range(3)])
    ...     t.start(); t.join()
    ...     inbox.close()
    ...     return await inbox.take(100) + await inbox.take(100)
    >>> asyncio.run(demo())
    [0, 1, 2]
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_items: int) -> None:
        self._loop = loop
        self._max_items = max_items
        self._items: deque[T] = deque()
        self._space = threading.Condition()
        self._ready = asyncio.Event()
        self._wake_scheduled = False
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        """Called from the producer thread; waits while the inbox is full (never after close)."""
        with self._space:
            while len(self._items) >= self._max_items and not self._closed:
                self._space.wait(0.5)
            self._items.append(item)
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # loop closed: nobody is left to take the item
            pass

    def close(self) -> None:
        """No more waiting: :meth:`take` returns what is left, then ``[]``. Loop side."""
        with self._space:
            self._closed = True
            self._space.notify_all()
        self._ready.set()

    async def take(self, max_batch: int) -> list[T]:
        """Wait for items and return up to ``max_batch`` of them; ``[]`` once closed and empty."""
        while True:
            with self._space:
                self._wake_scheduled = False
                count = min(max_batch, len(self._items))
                batch = [self._items.popleft() for _ in range(count)]
                if batch:
                    self._space.notify_all()
                    return batch
                if self._closed:
                    return []
                # Cleared under the lock: a put after this schedules a fresh set().
                self._ready.clear()
            await self._ready.wait()
