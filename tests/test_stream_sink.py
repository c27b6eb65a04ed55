"""The InfluxDB sink against real InfluxDB 1.x: the schema contract, escaping, idempotence, outages."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from parkwatch.influxql import influxql, scalar
from parkwatch.settings import Settings
from parkwatch.testing import free_port
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from stream_processor.bridge import Bridge, BridgeConfig
from stream_processor.sink import InfluxSink, SinkConfig, encode_line
from stream_processor.sink.line_protocol import reading_lines

pytestmark = pytest.mark.services

T0 = 1764189600000


async def _write(settings: Settings, lines: list[str], **config: object) -> InfluxSink:
    sink = InfluxSink(settings, SinkConfig.model_validate(config))
    await sink.start()
    await sink.write(lines)
    await sink.stop()
    return sink


def test_rewriting_a_reading_overwrites_it_and_count_quality_counts_readings(stack: Settings) -> None:
    site = f"sink-{uuid.uuid4().hex[:6]}"
    record = DeviceRecord(site, "gw-01", "gas-01", 1, [
        Reading("ch4", T0, 12.5, "good"), Reading("h2s", T0, None, "comm_loss"),
        Reading("ch4", T0 + 1000, 12.7, "good"),
    ])
    first = reading_lines(record, [0.1, None, 0.2])
    asyncio.run(_write(stack, first))
    asyncio.run(_write(stack, reading_lines(record, [None, None, 0.3])))  # a replay, partly unscored
    assert scalar(stack, f"SELECT count(quality) FROM reading WHERE site = '{site}'") == 3
    assert scalar(stack, f"SELECT count(value) FROM reading WHERE site = '{site}'") == 2
    query = f"SELECT score, value, quality FROM reading WHERE site = '{site}' AND point = 'ch4'"
    rows = influxql(stack, query)
    assert rows[0]["values"] == [[T0, 0.1, 12.5, "good"], [T0 + 1000, 0.3, 12.7, "good"]]


def test_awkward_tags_and_strings_round_trip(stack: Settings) -> None:
    site = f"esc {uuid.uuid4().hex[:6]},x=y"
    message = 'quote " backslash \\ newline \n end'
    asyncio.run(_write(stack, [encode_line("alert", {"site": site, "rule": "r"}, {"message": message}, T0)]))
    escaped_site = site.replace("\\", "\\\\").replace("'", "\\'")
    series = influxql(stack, f"SELECT message, site FROM alert WHERE site = '{escaped_site}'")
    assert series[0]["values"] == [[T0, message, site]]


def test_unreachable_influx_is_retried_then_counted_as_lost(stack: Settings,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    nowhere = stack.model_copy(update={"influx_port": free_port()})
    sink = asyncio.run(_write(nowhere, ["m f=1.0 1764189600000"] * 3, stop_timeout="1s",
                              retry_backoff_max="200ms", request_timeout="1s"))
    assert sink.stats.lost_lines == 3 and sink.stats.failures >= 2
    assert "3 lines NOT written" in caplog.text


def test_bridge_waits_for_an_absent_kafka_and_still_stops(stack: Settings) -> None:
    nowhere = stack.model_copy(update={"kafka_port": free_port()})

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Bridge(nowhere, BridgeConfig(client_id="no-kafka")).run(stop))
        await asyncio.sleep(1.5)
        assert not task.done(), "the bridge must wait for Kafka, not crash"
        stop.set()
        counters = await asyncio.wait_for(task, 15)
        assert counters.frames_in == 0

    asyncio.run(go())
