"""1-minute aggregates: buckets close on the next minute, replays and bad readings are not counted."""

from __future__ import annotations

import pickle

from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from stream_processor.device_state import DeviceState
from stream_processor.sink.aggregates import MinuteAggregates

T0 = 1764189600000  # a minute boundary


def _record(readings: list[Reading]) -> DeviceRecord:
    return DeviceRecord("north", "gw-01", "gas-01", 1, readings)


def test_a_minute_is_written_when_the_next_one_starts_with_good_readings_only() -> None:
    agg, state = MinuteAggregates(), DeviceState()
    first = [Reading("ch4", T0 + 1000 * i, 10.0 + i, "good") for i in range(60)]
    first.insert(5, Reading("ch4", T0 + 5500, None, "comm_loss"))
    first.insert(6, Reading("ch4", T0 + 5600, 999.0, "stale"))
    assert agg.add(_record(first), state) == []
    lines = agg.add(_record([Reading("ch4", T0 + 60_000, 1.0, "good"),
                             Reading("o2", T0 + 60_000, 20.9, "good")]), state)
    assert lines == ["reading_1m,site=north,gateway=gw-01,device=gas-01,point=ch4 "
                     f"mean=39.5,min=10.0,max=69.0,count=60i {T0}"]


def test_replays_after_a_restored_state_are_not_counted_twice() -> None:
    agg, state = MinuteAggregates(), DeviceState()
    part = [Reading("ch4", T0 + 1000 * i, 1.0, "good") for i in range(30)]
    agg.add(_record(part), state)
    restored: DeviceState = pickle.loads(pickle.dumps(state))
    for s in (state, restored):
        agg.add(_record(part), s)  # redelivered after a restart
        rest = [Reading("ch4", T0 + 1000 * i, 3.0, "good") for i in range(30, 61)]
        assert agg.add(_record(rest), s) == [
            "reading_1m,site=north,gateway=gw-01,device=gas-01,point=ch4 "
            f"mean=2.0,min=1.0,max=3.0,count=60i {T0}"
        ]


def test_a_gap_of_minutes_writes_only_minutes_with_readings() -> None:
    agg, state = MinuteAggregates(), DeviceState()
    agg.add(_record([Reading("p", T0, 1.0, "good")]), state)
    lines = agg.add(_record([Reading("p", T0 + 5 * 60_000, 2.0, "good"),
                             Reading("p", T0 + 6 * 60_000, 4.0, "good")]), state)
    assert [line.rsplit(" ", 1)[1] for line in lines] == [str(T0), str(T0 + 5 * 60_000)]
