"""The v2 write path (influxdb-client) against VictoriaMetrics' ``/api/v2/write``.

VictoriaMetrics stores numeric fields as series named ``<measurement>_<field>``
(``reading_value``, ``reading_score``, ``reading_1m_mean``) with the tags as
labels, and drops string fields (``quality``), so readings are counted on
``reading_value``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from parkwatch.settings import Settings
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from stream_processor.sink import InfluxSink, SinkConfig
from stream_processor.sink.line_protocol import reading_lines
from stream_processor.testing import VictoriaMetrics

pytestmark = pytest.mark.services

T0 = 1764189600000


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    vm = VictoriaMetrics(tmp_path / "vm", Settings())
    try:
        yield vm
    finally:
        vm.stop()


def test_readings_written_through_influxdb_client_arrive_once(victoria: VictoriaMetrics) -> None:
    site = f"v2-{uuid.uuid4().hex[:6]}"
    readings = [Reading(p, T0 + 1000 * i, 10.0 + i, "good") for i in range(500) for p in ("ch4", "o2")]
    record = DeviceRecord(site, "gw-01", "gas-01", 1, readings)
    lines = reading_lines(record, [0.5] * len(readings))
    confirmed: list[bool] = []

    async def go() -> InfluxSink:
        sink = InfluxSink(victoria.settings, SinkConfig(batch_lines=300))
        await sink.start()
        await sink.write(lines, lambda: confirmed.append(True))
        await sink.write(lines[:100])  # a replay overwrites
        await sink.stop()
        return sink

    sink = asyncio.run(go())
    assert sink.stats.lines_written == 1100 and sink.stats.failures == 0 and confirmed == [True]
    series = victoria.export(f'{{__name__="reading_value",site="{site}"}}')
    assert sorted(s["metric"]["point"] for s in series) == ["ch4", "o2"]  # type: ignore[index]
    for s in series:
        assert len(s["values"]) == 500  # type: ignore[arg-type]
        assert s["timestamps"] == [T0 + 1000 * i for i in range(500)]
        assert s["metric"]["device"] == "gas-01"  # type: ignore[index]
    assert sum(len(s["values"]) for s in victoria.export(f'{{__name__="reading_score",site="{site}"}}')) \
        == 1000  # type: ignore[arg-type]
