"""Wire the worker together: App, topics, table, sink, scorer and agent.

The InfluxDB sink is a dependency of the App (a :class:`mode.Service`), added
before the App starts, so it starts before the agents and stops after them:
on SIGTERM the consumer stops fetching and Faust waits until the sink has
written (and so acked) every record in flight, commits, the changed device
states go to the changelog, and only then does the sink stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust
import mode
from faust.types import TableT

from parkwatch.settings import Settings
from stream_processor.agents import register_agents
from stream_processor.alert_manager_agent import AlertManagerRuntime, register_alert_manager
from stream_processor.app import build_app
from stream_processor.config import ProcessorConfig
from stream_processor.processor_stats import ProcessorStats
from stream_processor.rule_agents import register_rule_agents
from stream_processor.rules.book import RuleBook
from stream_processor.rules.engine import RuleEngine
from stream_processor.rules.feed import RulesFeed
from stream_processor.rules.progress import PartitionProgress
from stream_processor.rules.tags import load_device_tags
from stream_processor.scoring import RecordScorer
from stream_processor.sink import InfluxSink
from stream_processor.tables import StateCheckpoints, declare_detector_table, declare_gateway_table
from stream_processor.topics import ProcessorTopics, declare_topics

__all__ = ["Processor", "SinkService", "build_processor"]


class SinkService(mode.Service):
    """Starts and stops an :class:`InfluxSink` with the App."""

    def __init__(self, sink: InfluxSink, **kwargs: object) -> None:
        self.sink = sink
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_start(self) -> None:
        await self.sink.start()

    async def on_stop(self) -> None:
        await self.sink.stop()


@dataclass
class Processor:
    """The parts of one worker, kept for tests and benchmarks to inspect."""

    app: faust.App
    topics: ProcessorTopics
    table: TableT
    sink: InfluxSink
    scorer: RecordScorer
    stats: ProcessorStats
    checkpoints: StateCheckpoints
    rules: RuleBook
    alert_manager: AlertManagerRuntime


def build_processor(settings: Settings, config: ProcessorConfig, *, web_port: int | None = None) -> Processor:
    """Everything a worker runs, assembled but not started."""
    app = build_app(settings, config, web_port=web_port)
    topics = declare_topics(app, settings)
    table = declare_detector_table(app, settings)
    gateway_table = declare_gateway_table(app)
    sink = InfluxSink(settings, config.sink)
    book = RuleBook(load_device_tags(config.rules.firmware_configs))
    engine = RuleEngine(book, config.alerts.reopen_within_s)
    scorer = RecordScorer(config, engine)
    stats = ProcessorStats()
    feed = RulesFeed(book, settings.kafka_bootstrap, poll_s=config.rules.poll_s)
    progress = PartitionProgress(config.rules.caught_up_records)
    app.add_dependency(SinkService(sink))
    app.add_dependency(feed)
    checkpoints = register_agents(app, topics, table, scorer, sink, stats, feed, progress,
                                  state_save_interval_s=config.state_save_interval_s)
    register_rule_agents(app, topics, checkpoints, gateway_table, engine, feed, progress, sink, stats,
                         sweep_interval_s=config.rules.sweep_interval_s)
    alert_manager = register_alert_manager(app, topics, config.alert_manager)
    return Processor(app, topics, table, sink, scorer, stats, checkpoints, book, alert_manager)
