"""Build the Faust App from settings; nothing else (topics, tables, agents live next door).

No broker URL is written in code: it comes from :class:`~parkwatch.settings.Settings`.
The store is ``memory://``: tables are rebuilt from their changelog topics
when a worker starts or gains partitions. ``topic_partitions`` equals the
``readings`` partition count so every table's changelog is co-partitioned
with the stream that updates it.

Two corrections to Faust's consumer live here (:class:`ParkwatchApp`): the
commit check in ``_Consumer._new_offset``, without which one unacked record
could be committed past, and the fetch wait.

Fetch wait: Faust's aiokafka consumer asks the broker to hold each fetch up to
1,500 ms (hard-coded). Apache Kafka answers as soon as data arrives, but
Tansu holds a fetch for most of that time even when records are waiting:
measured on this machine, a record waited 376 ms at the median and 757 ms at
p99 before the worker saw it, against 27 ms and 65 ms with a 100 ms wait. An
alert cannot be faster than that, so :class:`ParkwatchApp` builds its
consumer with ``kafka.fetch_max_wait`` (100 ms) through Faust's transport
classes; the cost is at most ten empty fetches per second when idle.
"""

from __future__ import annotations

from typing import Any, Final, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, TransportT

from parkwatch.settings import Settings
from stream_processor.config import ProcessorConfig

__all__ = ["APP_ID", "ParkwatchApp", "build_app"]

#: Also the Kafka consumer group id and the prefix of the changelog topics.
APP_ID: Final = "parkwatch-processor"


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by the consumer's fetcher when it starts; Faust offers no setting for it.
        consumer._fetch_max_wait_ms = cast(ParkwatchApp, self.app).fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _new_offset(self, tp: TP) -> int | None:
        """Faust's own, with its head check mended.

        The committed offset is the next record to read. Faust (0.15.3) holds the commit
        back only when the lowest acked offset is *more than one* past it, so a single
        unacked record right there (one whose alert events were not delivered, or one
        fetched during a seek and never handed to the agent) was committed past when the
        next record was acked, and never read again. Offsets a topic legitimately skips
        (Faust's gap tracking) keep Faust's own handling.
        """
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if acked and committed is not None and not self._gap[tp] and min(acked) > committed:
            return None
        return cast(int | None, super()._new_offset(tp))


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class ParkwatchApp(faust.App):
    """A Faust App whose consumer waits at most ``fetch_max_wait_ms`` per fetch (see the module doc)."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)


def build_app(settings: Settings, config: ProcessorConfig, *, web_port: int | None = None) -> faust.App:
    """A configured, not yet started App; the web server only runs when ``web_port`` is given."""
    kafka = config.kafka
    return ParkwatchApp(
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
        fetch_max_wait_ms=round(kafka.fetch_max_wait_s * 1000),
    )
