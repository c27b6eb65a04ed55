"""Fans the stream log out to connected stream clients.

One :class:`StreamHub` per app, owned by the lifespan (:meth:`StreamHub.start`,
:meth:`StreamHub.stop`). Its task reads the entries after the last one it
delivered from :mod:`cloud_api.stream_log` whenever the store says it committed
a change (:meth:`StreamHub.wake`, registered in ``SqlAlertStore.listeners``,
safe to call from any thread) and at least every ``poll_s`` (so changes
written by another API process sharing a PostgreSQL database arrive too).

Each entry is encoded at most twice (plain and masked) and put on the queue of
every subscriber allowed to see its site; a subscriber without clearance gets
sensitive points masked. A cleared subscriber's receipt of a sensitive alert
is audited, like any other read of sensitive data.

Queues are bounded: a client that cannot keep up is marked ``overflowed``; its
connection closes and the client reconnects with ``?since=`` to catch up from
the log, so a slow phone never slows the others or grows memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Final

from cloud_api import stream_log
from cloud_api.accounts import Principal
from cloud_api.masking import is_sensitive, mask_event, must_mask
from cloud_api.store import StoreError
from parkwatch.wire.alerts import AlertEvent

if TYPE_CHECKING:
    from cloud_api.dependencies import Services

__all__ = ["StreamHub", "Subscriber", "alert_message", "QUEUE_MAX"]

log = logging.getLogger(__name__)

#: Messages a subscriber may have waiting before it is cut off (and reconnects with ``since``).
QUEUE_MAX: Final = 1000


def alert_message(seq: int, event: AlertEvent) -> str:
    """The stream's JSON text for one alert change.

    >>> e = AlertEvent("a1", "open", "k", "r", "info", "s", "g", "d", "p", 1, 2, None, None, None, None, "m")
    >>> json.loads(alert_message(7, e))["seq"], json.loads(alert_message(7, e))["alert"]["state"]
    (7, 'open')
    """
    return json.dumps({"type": "alert", "seq": seq, "alert": asdict(event)}, allow_nan=False)


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    #: ``(seq, text)``: alert changes by their ``seq``; ``None`` for messages outside the log (values).
    queue: asyncio.Queue[tuple[int | None, str]] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    overflowed: bool = False
    #: Wants live values (:mod:`cloud_api.live_values`).
    values: bool = False
    #: The next round of values sends every known value, not only the changed ones.
    values_snapshot_due: bool = True
    #: Sensitive points whose values this subscriber's receipt was audited for.
    audited_points: set[str] = field(default_factory=set)


class StreamHub:
    """See the module docstring."""

    def __init__(self, services: Services, poll_s: float = 1.0) -> None:
        self.services = services
        self.poll_s = poll_s
        self.subscribers: set[Subscriber] = set()
        #: The newest ``seq`` handed to subscribers.
        self.delivered = 0
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.delivered = await asyncio.to_thread(stream_log.head, self.services.store.db)
        self.services.store.listeners.append(self.wake)
        self._task = asyncio.create_task(self._run(), name="stream-hub")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.services.store.listeners.remove(self.wake)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """A change was committed (any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wakeup.set)

    def subscribe(self, principal: Principal, values: bool = False) -> Subscriber:
        subscriber = Subscriber(principal, values=values)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def _run(self) -> None:
        last_prune = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll_s)
            self._wakeup.clear()
            try:
                await self._deliver_new()
                if time.monotonic() - last_prune > 3600:
                    last_prune = time.monotonic()
                    cutoff = time.time_ns() // 1_000_000 - stream_log.RETENTION_MS
                    await asyncio.to_thread(stream_log.prune, self.services.store.db, cutoff)
            except StoreError as exc:  # database away: the next round reads from the same place
                log.warning("stream hub: reading the stream log failed (retrying): %s", exc)

    async def _deliver_new(self) -> None:
        while True:
            entries = await asyncio.to_thread(
                stream_log.read_since, self.services.store.db, self.delivered, None, 500
            )
            if not entries:
                return
            audits = self.fan_out(entries)
            self.delivered = entries[-1].seq
            if audits:
                await asyncio.to_thread(self._audit, audits)
            if len(entries) < 500:
                return

    def fan_out(self, entries: list[stream_log.StreamEntry]) -> list[tuple[Principal, str]]:
        """Queue each entry for every subscriber that may see it; returns sensitive reads to audit."""
        audits: list[tuple[Principal, str]] = []
        registry = self.services.registry
        for entry in entries:
            event = entry.event
            sensitive = is_sensitive(registry, event)
            plain: str | None = None
            masked: str | None = None
            for sub in list(self.subscribers):
                principal = sub.principal
                if sub.overflowed or not principal.may_see(event.site):
                    continue
                if must_mask(principal, sensitive):
                    masked = masked or alert_message(entry.seq, mask_event(event))
                    text = masked
                else:
                    plain = plain or alert_message(entry.seq, event)
                    text = plain
                    if sensitive:
                        audits.append((principal, event.id))
                try:
                    sub.queue.put_nowait((entry.seq, text))
                except asyncio.QueueFull:
                    sub.overflowed = True
                    # Wake the sender so it closes the connection promptly.
                    with contextlib.suppress(asyncio.QueueEmpty):
                        sub.queue.get_nowait()
                    sub.queue.put_nowait((-1, ""))
        return audits

    def _audit(self, audits: list[tuple[Principal, str]]) -> None:
        now = time.time_ns() // 1_000_000
        for principal, alert_id in audits:
            self.services.audit.record(
                now, principal.name, principal.role, "sensitive.read", "stream", {"alert_ids": [alert_id]}
            )
