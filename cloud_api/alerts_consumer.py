"""Keeps the alert store up to date from the Kafka ``alerts`` topic.

:class:`AlertsConsumer` is the :class:`~cloud_api.topic_consumer.TopicConsumer`
of the ``alerts`` topic (group ``parkwatch-cloud-api``) with the alert store as
its projection: positions come from the store, each batch is applied with
:meth:`AlertStore.apply` in a worker thread, failures back off and retry (see
that module for the failure modes). The app's lifespan owns it; a task that
failed shows in ``/healthz``.

One addition: new alerts the store kept as ``suppressed`` (opened inside a
maintenance window) are handed to ``on_suppressed`` after their batch, so the
app can publish that state for the stream processor's alert manager.

With the SQLite backend each API process has its own store, so run one API
process per consumer group; a shared (PostgreSQL) store lets several share it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from cloud_api.store import AlertStore, ApplyResult
from cloud_api.topic_consumer import Applied, ConsumerState, ConsumerStats, TopicConsumer
from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.topics import KAFKA_ALERTS

__all__ = ["GROUP_ID", "ConsumerState", "ConsumerStats", "AlertsConsumer"]

GROUP_ID: Final = "parkwatch-cloud-api"


class AlertsConsumer(TopicConsumer[AlertEvent]):
    """Feeds ``store`` from the ``alerts`` topic; see the module docstring.

    Example (no broker needed until :meth:`start`)::

        >>> from cloud_api.db import Database
        >>> from cloud_api.sql_store import SqlAlertStore
        >>> consumer = AlertsConsumer(SqlAlertStore(Database("sqlite:///:memory:")), "127.0.0.1:9092")
        >>> consumer.stats.state, consumer.stats.connected
        ('connecting', False)
    """

    def __init__(
        self,
        store: AlertStore,
        bootstrap_servers: str,
        *,
        topic: str = KAFKA_ALERTS,
        group_id: str = GROUP_ID,
        batch_max_records: int = 500,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 5.0,
        on_suppressed: Callable[[list[AlertEvent]], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(store, AlertEvent.decode, bootstrap_servers, topic=topic, group_id=group_id,
                         batch_max_records=batch_max_records, retry_initial_s=retry_initial_s,
                         retry_max_s=retry_max_s)  # fmt: skip
        self.store = store
        #: Told about new alerts stored as suppressed by a maintenance window (the app
        #: publishes that state, so the stream processor's alert manager neither counts them
        #: towards a flood nor escalates them).
        self.on_suppressed = on_suppressed

    async def _applied(self, result: Applied) -> None:
        assert isinstance(result, ApplyResult)
        if result.suppressed and self.on_suppressed is not None:
            await self.on_suppressed(result.suppressed)
