"""The worker's Kafka consumer is built with the configured fetch wait, not Faust's 1.5 s."""

from __future__ import annotations

import asyncio

from faust.types import TP

from parkwatch.settings import Settings
from stream_processor.app import build_app
from stream_processor.config import KafkaTuning, ProcessorConfig


def test_the_consumer_waits_at_most_the_configured_fetch_wait() -> None:
    async def built_wait() -> int:
        config = ProcessorConfig(kafka=KafkaTuning.model_validate({"fetch_max_wait": "250ms"}))
        app = build_app(Settings(), config)
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
        wait: int = consumer._fetch_max_wait_ms
        await consumer.stop()
        return wait

    assert asyncio.run(built_wait()) == 250


def test_an_unacked_record_at_the_head_holds_the_commit_back() -> None:
    async def offsets() -> list[int | None]:
        app = build_app(Settings(), ProcessorConfig())
        consumer = app.consumer
        tp = TP("readings", 0)
        consumer._committed_offset[tp] = 31  # type: ignore[attr-defined]  # offsets 0..30 are done
        seen = []
        for offset in (32, 33):  # 31 failed: not acked
            consumer._acked[tp].append(offset)  # type: ignore[attr-defined]
        seen.append(consumer._new_offset(tp))  # type: ignore[attr-defined]
        consumer._acked[tp].append(31)  # type: ignore[attr-defined]  # read again and acked
        seen.append(consumer._new_offset(tp))  # type: ignore[attr-defined]
        return seen

    assert asyncio.run(offsets()) == [None, 34]
