"""Run one Faust worker process: ``parkwatch processor worker``.

Faust's :class:`faust.Worker` owns the event loop, logging and signal
handling: SIGTERM or SIGINT stop the App (agents, then the sink's final flush)
and the process exits 0. The Kafka topics are created first, on the same
loop, because a consumer cannot subscribe to a topic that does not exist.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from parkwatch.settings import Settings
from stream_processor.config import ProcessorConfig
from stream_processor.kafka_topics import ensure_topics
from stream_processor.processor import build_processor

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


def run_worker(settings: Settings, config: ProcessorConfig, *, loglevel: str = "info",
               web_port: int | None = None) -> None:
    """Start the worker and block until it is stopped; exits the process (0 on a clean stop)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(settings))
    processor = build_processor(settings, config, web_port=web_port)
    worker = faust.Worker(processor.app, loop=loop, loglevel=loglevel, redirect_stdouts=False)
    worker.execute_from_commandline()
