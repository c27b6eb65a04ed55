"""How far a worker has read each ``readings`` partition, in offsets and in event time.

Stale rules ask "has this point reported lately?". A worker that is behind
(a backlog after an outage, a restart, a slow InfluxDB) has not *read* the
recent readings yet, and must not call their devices stale. So each
partition has a reference time: the wall clock while the worker is within
``caught_up_records`` of the partition's end, and otherwise the newest event
time it has read from it.
"""

from __future__ import annotations

from collections.abc import Callable

from parkwatch.wire.records import DeviceRecord

__all__ = ["PartitionProgress"]


class PartitionProgress:
    """
    >>> p = PartitionProgress(caught_up_records=10)
    >>> p.seen(0, 99, DeviceRecord("s", "g", "d", 1, [("x", 5_000, 1.0, "good")]))  # type: ignore[list-item]
    >>> p.reference_ms(0, 100, None, 60_000), p.reference_ms(0, 500, None, 60_000)
    (60000, 5000)
    >>> p.reference_ms(1, 500, None, 60_000) is None, p.reference_ms(1, 500, 500, 60_000)
    (True, 60000)
    """

    def __init__(self, caught_up_records: int) -> None:
        self.caught_up_records = caught_up_records
        self._offset: dict[int, int] = {}
        self._event_ms: dict[int, int] = {}

    def seen(self, partition: int, offset: int, record: DeviceRecord) -> None:
        """A record was read (called by the scoring agent for each record, in offset order)."""
        self._offset[partition] = offset
        newest = max((r[1] for r in record.readings), default=-1)
        if newest > self._event_ms.get(partition, -1):
            self._event_ms[partition] = newest

    def reference_ms(self, partition: int, highwater: int | None, committed: int | None,
                     now_ms: int) -> int | None:
        """``now_ms`` when caught up, else the newest event time read; None if nothing is known.

        Read up to = past the last record seen or the committed offset, whichever is further:
        a partition whose devices all went silent has no new record to see but is caught up."""
        read_to = max(self._offset.get(partition, -1) + 1, committed or 0)
        if highwater is not None and highwater - read_to <= self.caught_up_records:
            return now_ms
        event_ms = self._event_ms.get(partition)
        return event_ms if event_ms is not None and event_ms >= 0 else None

    def forget(self, partitions: Callable[[int], bool]) -> None:
        """Drop what is known of partitions this worker no longer owns."""
        for part in [p for p in self._offset if partitions(p)]:
            del self._offset[part]
            self._event_ms.pop(part, None)
