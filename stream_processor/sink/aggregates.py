"""1-minute aggregates (``reading_1m``), computed by the worker from the readings it handles.

Why in the worker and not in the database: InfluxDB 1.x continuous queries
only look at recent intervals (late data from an edge backlog is missed),
2.x needs a task in Flux, 3.x and VictoriaMetrics have neither; the worker
already sees every reading in event-time order per point and its state
survives restarts in the changelog, so one implementation serves every
backend the sink writes to.

Contract: measurement ``reading_1m``, tags ``site,gateway,device,point`` (as
``reading``), fields ``mean``, ``min``, ``max`` (floats) and ``count``
(integer) over the point's ``good`` readings whose time falls in the minute,
timestamp = the minute's start (ms). A minute is written when the point's
first good reading of a later minute arrives, so the newest minute of each
point appears one minute late (and a point that goes silent keeps its last
minute open). Readings not newer than the newest one aggregated (replays,
duplicates, late arrivals) are not added again: the bucket lives in the
device's state, so a replay after a restart neither double counts nor, with
the state saved by :class:`~stream_processor.tables.StateCheckpoints`,
misses readings. Writing a minute again overwrites it (same series and time).
"""

from __future__ import annotations

from typing import Final

from parkwatch.wire.records import DeviceRecord
from stream_processor.device_state import DeviceState, MinuteBucket
from stream_processor.sink.line_protocol import READING, escape_tag, format_float, reading_prefix

__all__ = ["MINUTE_MEASUREMENT", "MinuteAggregates", "minute_line"]

MINUTE_MEASUREMENT: Final = "reading_1m"
_MINUTE_MS: Final = 60_000


def minute_line(prefix: str, point_tag: str, bucket: MinuteBucket) -> str:
    """The ``reading_1m`` point of a closed bucket; ``prefix`` is a ``reading_prefix``.

    >>> b = MinuteBucket(1764189600000, count=2, total=3.0, low=1.0, high=2.0, last_ms=1764189601000)
    >>> minute_line("reading,site=n,gateway=g,device=d,point=", "ch4", b)
    'reading_1m,site=n,gateway=g,device=d,point=ch4 mean=1.5,min=1.0,max=2.0,count=2i 1764189600000'
    """
    head = MINUTE_MEASUREMENT + prefix[len(READING):]
    return (f"{head}{point_tag} mean={format_float(bucket.total / bucket.count)},"
            f"min={format_float(bucket.low)},max={format_float(bucket.high)},count={bucket.count}i "
            f"{bucket.minute_ms}")


class MinuteAggregates:
    """Adds a record's good readings to their points' buckets; returns the lines of closed minutes.

    >>> from parkwatch.wire.frames import Reading
    >>> agg, state = MinuteAggregates(), DeviceState()
    >>> t0 = 1764189600000
    >>> rec = DeviceRecord("n", "g", "d", 1, [Reading("ch4", t0 + 1000 * i, float(i), "good")
    ...                                       for i in range(0, 61, 20)])
    >>> agg.add(rec, state)
    ['reading_1m,site=n,gateway=g,device=d,point=ch4 mean=20.0,min=0.0,max=40.0,count=3i 1764189600000']
    >>> agg.add(rec, state)  # a replay adds nothing
    []
    """

    def add(self, record: DeviceRecord, state: DeviceState) -> list[str]:
        """Mutates ``state.minutes``; call before the readings are scored (any order works)."""
        try:
            buckets = state.minutes
        except AttributeError:  # a state pickled before aggregates existed
            buckets = state.minutes = {}
        lines: list[str] = []
        prefix: str | None = None
        for r in record.readings:
            if r.quality != "good" or r.value is None:
                continue
            minute = r.ts_ms - r.ts_ms % _MINUTE_MS
            b = buckets.get(r.point)
            if b is None:
                b = buckets[r.point] = MinuteBucket(minute)
            elif r.ts_ms <= b.last_ms:
                continue
            elif minute > b.minute_ms:
                if b.count:
                    if prefix is None:
                        prefix = reading_prefix(record)
                    lines.append(minute_line(prefix, escape_tag(r.point), b))
                b = buckets[r.point] = MinuteBucket(minute)
            b.last_ms = r.ts_ms
            b.count += 1
            b.total += r.value
            if r.value < b.low:
                b.low = r.value
            if r.value > b.high:
                b.high = r.value
        return lines
