"""InfluxDB sink configuration: the schema is the only place that holds the defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from parkwatch.durations import Duration

__all__ = ["SinkConfig"]


class SinkConfig(BaseModel):
    """Batching, backpressure and retry of InfluxDB writes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: Write at least this often while lines are waiting.
    flush_interval_s: Duration = Field(default=0.5, alias="flush_interval")
    #: Lines per write request; a full batch is written at once.
    batch_lines: int = Field(default=10_000, gt=0)
    #: Above this many waiting lines, ``write`` blocks the agent (and so Kafka
    #: consumption) until InfluxDB catches up.
    max_buffered_lines: int = Field(default=200_000, gt=0)
    request_timeout_s: Duration = Field(default=30.0, alias="request_timeout")
    retry_backoff_max_s: Duration = Field(default=10.0, alias="retry_backoff_max")
    #: On stop, how long to keep retrying a failing InfluxDB before counting the rest as lost.
    stop_timeout_s: Duration = Field(default=15.0, alias="stop_timeout")
