"""Keep a worker's :class:`~stream_processor.rules.book.RuleBook` in step with the ``rules`` topic.

Every worker reads the whole topic (one partition, compacted) with a plain
consumer outside the group, from the beginning, and then follows it: a rule
published by the API is live on every worker after one fetch round (the
``poll`` interval, 500 ms by default). ``ready`` is set once the records that
were in the topic at start are applied; the scoring agent waits for it, so a
restarted worker never judges readings without its rules.
"""

from __future__ import annotations

import asyncio
import logging

import mode
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from parkwatch.wire.rules import KAFKA_RULES
from stream_processor.rules.book import RuleBook

__all__ = ["RulesFeed"]

log = logging.getLogger(__name__)


class RulesFeed(mode.Service):
    """Started with the App (a dependency), before the agents."""

    def __init__(self, book: RuleBook, bootstrap_servers: str, *, topic: str = KAFKA_RULES,
                 poll_s: float = 0.5, **kwargs: object) -> None:
        self.book = book
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.poll_s = poll_s
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    fetch_max_wait_ms=round(self.poll_s * 1000))
        await consumer.start()
        self._consumer = consumer
        tp = TopicPartition(self.topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        self._end = (await consumer.end_offsets([tp]))[tp]
        if self._end == 0:
            self._set_ready()

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def _set_ready(self) -> None:
        self.ready.set()
        log.info("rules loaded: %d active (%d refused)", len(self.book), self.book.refused)

    @mode.Service.task
    async def _follow(self) -> None:
        consumer = self._consumer
        assert consumer is not None  # started in on_start
        tp = TopicPartition(self.topic, 0)
        while not self.should_stop:
            try:
                batches = await consumer.getmany(tp, timeout_ms=int(self.poll_s * 1000))
            except KafkaError as exc:  # the broker comes back; the consumer resumes where it was
                log.warning("reading the rules topic: %r", exc)
                await asyncio.sleep(self.poll_s)
                continue
            for record in batches.get(tp, []):
                self.book.apply(record.key, record.value)
            if not self.ready.is_set() and await consumer.position(tp) >= self._end:
                self._set_ready()
