"""The sender: moves records from the durable outbox to the uplink, and settles them on PUBACK.

One thread (``outbox-sender``) owns the order of delivery; the agent's loop
only inserts into the outbox and wakes it. Each round, while the uplink is
connected:

1. **alarms**, oldest first, as fast as the in-flight window allows;
2. **live** frames (inserted since the last connect), oldest first, unthrottled;
3. **backlog** frames (everything that was waiting when the connection came
   up: an outage, or a restart), oldest first, at most ``replay_rate``
   readings per second, so a replay after a long outage neither starves live
   data nor floods the broker and the cloud.

Frames keep the seq and reading timestamps they were given when accepted, so
a replayed frame is the same bytes as the original would have been. The
backlog and live streams interleave on the wire; each is in seq order, and
receivers order by ``seq`` (they must anyway, since at-least-once delivery
can repeat a frame).

Nothing is published while disconnected: paho keeps (and re-sends after the
reconnect) only what was in flight, the rest waits on disk. Acknowledgements
arrive on paho's thread (:meth:`Sender.on_settled`); the sender deletes them
from the outbox in one transaction per round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from edge_agent.outbox import Outbox, OutboxRecord
from edge_agent.uplink import Uplink
from parkwatch.errors import OutboxError
from parkwatch.wire.topics import mqtt_topic

__all__ = ["Sender"]

log = logging.getLogger(__name__)

_BATCH = 256


class Sender:
    """Drains an :class:`~edge_agent.outbox.Outbox` into an :class:`~edge_agent.uplink.Uplink`."""

    def __init__(self, outbox: Outbox, site: str, gateway: str, *, replay_rate: float = 20_000.0) -> None:
        """``replay_rate``: backlog readings per second (``0``: unlimited)."""
        self.outbox = outbox
        self.replay_rate = replay_rate
        self.alarm_topic = mqtt_topic(site, gateway, "alarm")
        self._uplink: Uplink | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._settled_lock = threading.Lock()
        self._acked: list[int] = []
        self._rejected: list[int] = []
        self._thread = threading.Thread(target=self._main, name="outbox-sender", daemon=True)
        self._error: BaseException | None = None
        # Cursors over outbox ids: everything at or below a cursor has been handed to the uplink.
        self._alarm_cursor = 0
        self._live_cursor = 0
        self._backlog: deque[list[int]] = deque()  # [after_id, upto_id] ranges still to replay
        self._seen_connects = 0
        self._tokens = 0.0
        self._tokens_at = time.monotonic()
        self.frames_replayed = 0
        self.readings_replayed = 0
        self.alarms_sent = 0

    # -- wiring ---------------------------------------------------------------------------------

    def on_settled(self, token: object, acked: bool) -> None:
        """The uplink's callback (paho thread): remember the id, delete it on the next round."""
        assert isinstance(token, int)
        with self._settled_lock:
            (self._acked if acked else self._rejected).append(token)
        self._wake.set()

    def start(self, uplink: Uplink) -> None:
        self._uplink = uplink
        self._thread.start()

    def wake(self) -> None:
        """Something new is in the outbox (thread-safe, cheap)."""
        self._wake.set()

    @property
    def backlog_ranges(self) -> int:
        return len(self._backlog)

    def drain(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (everything acknowledged and deleted), at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.outbox.depth()[0] == 0:
                return True
            if self._error is not None:
                return False
            self._wake.set()
            time.sleep(0.02)
        return self.outbox.depth()[0] == 0

    def stop(self) -> None:
        """Stop the thread; PUBACKs that arrive later are still settled by :meth:`settle_pending`."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._error is not None:
            raise OutboxError(f"outbox sender failed: {self._error}") from self._error

    def settle_pending(self) -> None:
        """Delete whatever was acknowledged since the last round."""
        with self._settled_lock:
            acked, self._acked = self._acked, []
            rejected, self._rejected = self._rejected, []
        if rejected:
            log.warning("broker rejected %d outbox records; deleted", len(rejected))
        self.outbox.settle(acked, rejected)

    # -- the thread -----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.clear()
                self.settle_pending()
                if not self._round():
                    self._wake.wait(0.1)
        except BaseException as exc:  # handed to the agent by stop(); the records stay on disk
            log.exception("outbox sender stopped")
            self._error = exc

    def _round(self) -> bool:
        """One pass over alarms, live and backlog; returns whether anything was published."""
        uplink = self._uplink
        assert uplink is not None
        if not uplink.connected:
            return False
        if uplink.connects != self._seen_connects:
            self._seen_connects = uplink.connects
            self._on_connected()
        sent = False
        for rec in self.outbox.read(self._alarm_cursor, "alarm", _BATCH):
            if not self._publish(uplink, rec):
                return sent
            self._alarm_cursor = rec.id
            self.alarms_sent += 1
            sent = True
        for rec in self.outbox.read(self._live_cursor, "data", _BATCH):
            if not self._publish(uplink, rec):
                return sent
            self._live_cursor = rec.id
            sent = True
        while self._backlog and self._take_tokens():
            after, upto = self._backlog[0]
            records = self.outbox.read(after, "data", 16, upto_id=upto)
            if not records:
                self._backlog.popleft()
                if not self._backlog:
                    log.info("backlog replayed")
                continue
            for rec in records:
                if not self._take_tokens() or not self._publish(uplink, rec):
                    return sent
                self._backlog[0][0] = rec.id
                self._tokens -= rec.readings
                self.frames_replayed += 1
                self.readings_replayed += rec.readings
                sent = True
        return sent

    def _on_connected(self) -> None:
        """What accumulated while disconnected (or before a restart) becomes backlog."""
        mark = self.outbox.last_id()
        if mark > self._live_cursor:
            self._backlog.append([self._live_cursor, mark])
            self._live_cursor = mark
            records, size = self.outbox.depth()
            log.info("replaying a backlog of up to %d records (%d bytes)", records, size)

    def _take_tokens(self) -> bool:
        if self.replay_rate <= 0:
            return True
        now = time.monotonic()
        self._tokens = min(self.replay_rate, self._tokens + (now - self._tokens_at) * self.replay_rate)
        self._tokens_at = now
        return self._tokens > 0

    def _publish(self, uplink: Uplink, rec: OutboxRecord) -> bool:
        """Hand one record to the uplink; ``False`` when the window is full or the link went down."""
        if uplink.in_flight >= uplink.max_in_flight or not uplink.connected:
            return False
        topic = self.alarm_topic if rec.kind == "alarm" else None
        try:
            uplink.publish_encoded(rec.payload, rec.readings, timeout_s=0.5, topic=topic, token=rec.id)
        except OutboxError as exc:
            log.debug("record %d not published yet: %s", rec.id, exc)
            return False
        return True
