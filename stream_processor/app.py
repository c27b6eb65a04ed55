"""Build the Faust App from settings; nothing else (topics, tables, agents live next door).

No broker URL is written in code: it comes from :class:`~parkwatch.settings.Settings`.
The store is ``memory://``: tables are rebuilt from their changelog topics
when a worker starts or gains partitions. ``topic_partitions`` equals the
``readings`` partition count so every table's changelog is co-partitioned
with the stream that updates it.
"""

from __future__ import annotations

from typing import Final

import faust

from parkwatch.settings import Settings
from stream_processor.config import ProcessorConfig

__all__ = ["APP_ID", "build_app"]

#: Also the Kafka consumer group id and the prefix of the changelog topics.
APP_ID: Final = "parkwatch-processor"


def build_app(settings: Settings, config: ProcessorConfig, *, web_port: int | None = None) -> faust.App:
    """A configured, not yet started App; the web server only runs when ``web_port`` is given."""
    kafka = config.kafka
    return faust.App(
        APP_ID,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        autodiscover=False,
        datadir=str(settings.state_dir / "faust"),
        topic_partitions=settings.readings_partitions,
        topic_replication_factor=1,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_host="127.0.0.1",
        producer_acks=-1,
        broker_session_timeout=kafka.session_timeout_s,
        broker_heartbeat_interval=kafka.heartbeat_interval_s,
        broker_rebalance_timeout=kafka.rebalance_timeout_s,
        broker_commit_interval=kafka.commit_interval_s,
        consumer_auto_offset_reset=kafka.auto_offset_reset,
    )
