"""The InfluxDB sink: line protocol encoding and a batched, retrying async writer."""

from __future__ import annotations

from stream_processor.sink.aggregates import MinuteAggregates, minute_line
from stream_processor.sink.config import SinkConfig
from stream_processor.sink.line_protocol import (
    alert_line,
    encode_line,
    pipeline_line,
    reading_line,
    reading_prefix,
)
from stream_processor.sink.transport import WriteFailed, WriteTransport, transport_for
from stream_processor.sink.writer import InfluxSink, OnWritten, SinkStats

__all__ = [
    "InfluxSink",
    "MinuteAggregates",
    "OnWritten",
    "SinkConfig",
    "SinkStats",
    "WriteFailed",
    "WriteTransport",
    "alert_line",
    "encode_line",
    "minute_line",
    "pipeline_line",
    "reading_line",
    "reading_prefix",
    "transport_for",
]
