"""The worker's Kafka consumer is built with the configured fetch wait, not Faust's 1.5 s."""

from __future__ import annotations

import asyncio

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
