"""Bridge configuration: the schema is the only place that holds the defaults."""

from __future__ import annotations

from typing import Literal

from aiokafka import codec
from pydantic import BaseModel, ConfigDict, Field, field_validator

from parkwatch.durations import Duration
from parkwatch.wire.frames import MAX_FRAME_BYTES
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["BridgeConfig"]


class BridgeConfig(BaseModel):
    """How the bridge subscribes to MQTT and produces to Kafka."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: MQTT client id. With ``session: persistent`` the broker queues QoS 1 frames
    #: for this id while the bridge is down, so keep it stable and unique per bridge.
    client_id: str = Field(default="parkwatch-bridge", min_length=1, max_length=64)
    session: Literal["persistent", "clean"] = "persistent"
    #: MQTT 5 / Mosquitto shared subscription group; bridges in one group split the load.
    share_group: str | None = Field(default=None, pattern=ID_PATTERN.pattern)
    qos: Literal[0, 1, 2] = 1
    keepalive_s: Duration = Field(default=30.0, alias="keepalive")
    #: Frames larger than this are dead-lettered as ``oversize``.
    max_frame_bytes: int = Field(default=MAX_FRAME_BYTES, gt=0)
    #: A dead letter keeps at most this many bytes of the payload (the detail says so).
    deadletter_payload_bytes: int = Field(default=65_536, ge=0)
    #: Producer batching: wait this long for more records per partition batch.
    linger_s: Duration = Field(default=0.005, alias="linger")
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"
    #: Bytes per partition batch in the producer.
    batch_bytes: int = Field(default=1_048_576, gt=0)
    #: Messages handed over from the MQTT thread but not yet produced; when full,
    #: the MQTT thread waits, so the broker holds the backlog instead of our memory.
    max_pending_messages: int = Field(default=20_000, gt=0)
    #: Messages forwarded per round (one round = produce all, wait for all acks).
    max_round_messages: int = Field(default=2_000, gt=0)
    stats_interval_s: Duration = Field(default=5.0, alias="stats_interval")
    #: Where the bridge reports its own health every stats interval: the ``pipeline``
    #: measurement in InfluxDB (what the pipeline-health dashboard reads), or nowhere.
    health_report: Literal["influxdb", "off"] = "influxdb"
    #: On SIGTERM, how long to keep retrying undelivered records before giving up (logged).
    shutdown_timeout_s: Duration = Field(default=10.0, alias="shutdown_timeout")
    #: Seqs skipped by a gateway are reported as a ``gap`` event if they have not
    #: arrived this long after the hole was seen (the backlog must start by then).
    gap_timeout_s: Duration = Field(default=60.0, alias="gap_timeout")
    #: Once a later seq of the backlog arrived inside a hole, the seqs below it get
    #: only this long (covers reordering between bridges of one share group).
    reorder_grace_s: Duration = Field(default=5.0, alias="reorder_grace")
    #: A seq this far below the gateway's highest (and in no hole) is a seq reset, not a duplicate.
    dedupe_window: int = Field(default=100_000, gt=0)
    #: Holes remembered per gateway stream; beyond, the oldest is reported at once and forgotten.
    max_holes: int = Field(default=1_000, gt=0)
    #: Where the per-gateway seq and status state lives: the compacted ``bridge-seq``
    #: Kafka topic (survives restarts, shared by a share group) or only this process.
    seq_state: Literal["kafka", "memory"] = "kafka"

    @field_validator("compression")
    @classmethod
    def _codec_installed(cls, value: str) -> str:
        available = {"none": True, "gzip": codec.has_gzip(), "snappy": codec.has_snappy(),
                     "lz4": codec.has_lz4(), "zstd": codec.has_zstd()}
        if not available[value]:
            usable = ", ".join(name for name, ok in available.items() if ok)
            raise ValueError(f"the {value} codec is not installed here; usable: {usable}")
        return value
