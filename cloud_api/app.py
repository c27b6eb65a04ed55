"""Builds the cloud API: FastAPI app, database, Kafka consumer and publisher, registry.

:func:`create_app` only builds and validates (an unsupported ``api_db_url``, an
invalid gateway config or classification raise
:class:`~parkwatch.errors.ConfigError` here, before any port opens). The
lifespan does the I/O: it opens the database, starts the alerts consumer, the
unshelving loop, the gateway events consumer and its pruning, the stream hub
and the live values poller, and on shutdown stops them before closing the
database.

Example (nothing is opened until the app is served)::

    >>> from parkwatch.settings import Settings
    >>> app = create_app(Settings(api_db_url="sqlite:///:memory:"))
    >>> sorted(app.openapi()["paths"])[:3]
    ['/api/v1/alarm-metrics', '/api/v1/alerts', '/api/v1/alerts/{alert_id}']
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from anyio import CapacityLimiter
from fastapi import FastAPI

from cloud_api import (
    admin_api,
    alarm_metrics_api,
    alert_workflow_api,
    alerts_api,
    console_api,
    gateway_events_api,
    health,
    registry_api,
    rules_api,
    stream_api,
)
from cloud_api.accounts import AccountStore
from cloud_api.alerts_consumer import AlertsConsumer
from cloud_api.audit import AuditLog
from cloud_api.config import ApiSettings
from cloud_api.dependencies import Services, read_threads
from cloud_api.gateway_events import GatewayEventStore, decode_gateway_event
from cloud_api.limits import LimitsMiddleware, TokenBucketLimiter
from cloud_api.live_values import LiveValues
from cloud_api.problems import install_problem_handlers
from cloud_api.publisher import KafkaPublisher, Publisher, PublishError
from cloud_api.registry import Registry, load_classification
from cloud_api.rules import RuleBook
from cloud_api.store import store_for
from cloud_api.stream_hub import StreamHub
from cloud_api.topic_consumer import TopicConsumer
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.events import KAFKA_GATEWAY_EVENTS
from stream_processor.kafka_topics import ensure_topics

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def _publish_suppressed(publisher: Publisher, events: list[AlertEvent]) -> None:
    """Tell the topic that these alerts opened inside a maintenance window (1 ms after the
    opening, so consumers keeping the newest event take it). Best effort: the API's own store
    has them suppressed already; a failure only means the processor may count them."""
    try:
        for event in events:
            await publisher.publish(replace(event, updated_ms=event.updated_ms + 1))
    except PublishError as exc:
        log.warning("could not publish %d suppressed alerts: %s", len(events), exc)


def create_app(
    settings: Settings, api_settings: ApiSettings | None = None, publisher: Publisher | None = None
) -> FastAPI:
    """The API for ``settings`` (where things are) and ``api_settings`` (how it behaves)."""
    api_settings = api_settings if api_settings is not None else ApiSettings()
    store = store_for(settings)
    if publisher is None:
        publisher = KafkaPublisher(settings.kafka_bootstrap, prepare=lambda: ensure_topics(settings))
    services = Services(
        settings=settings,
        api_settings=api_settings,
        store=store,
        accounts=AccountStore(store.db),
        audit=AuditLog(store.db),
        publisher=publisher,
        registry=Registry(
            settings,
            api_settings.firmware_configs,
            load_classification(api_settings.classification),
            history_cache_s=api_settings.history_cache_s,
        ),
        rules=RuleBook(store.db, publisher),
        read_limiter=CapacityLimiter(read_threads(store.db.dialect)),
    )
    gateway_events = GatewayEventStore(store.db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(store.open)
        await services.registry.start()
        consumer = AlertsConsumer(store, settings.kafka_bootstrap, group_id=api_settings.consumer_group,
                                  on_suppressed=lambda events: _publish_suppressed(publisher, events))
        services.consumer = consumer
        await consumer.start()
        unshelver = asyncio.create_task(alert_workflow_api.unshelve_expired(services), name="unshelve")
        events_consumer = TopicConsumer(
            gateway_events,
            decode_gateway_event,
            settings.kafka_bootstrap,
            topic=KAFKA_GATEWAY_EVENTS,
            group_id=f"{api_settings.consumer_group}.gateway-events",
        )
        app.state.gateway_events_consumer = events_consumer
        await events_consumer.start()
        pruner = asyncio.create_task(gateway_events_api.prune_expired(gateway_events), name="prune-events")
        await hub.start()
        await live_values.start()
        log.info(
            "cloud API started: %r, Kafka %s, auth %s", store, settings.kafka_bootstrap, api_settings.auth
        )
        try:
            yield
        finally:
            await live_values.stop()
            await hub.stop()
            unshelver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await unshelver
            pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruner
            await events_consumer.stop()
            await consumer.stop()
            await services.publisher.close()
            await services.registry.aclose()
            store.close()
            log.info("cloud API stopped")

    app = FastAPI(
        title="parkwatch cloud API",
        version="1",
        description=(
            "Alerts, alert handling, maintenance windows, monitoring rules, the registry of points and "
            "their history, gateway events (data gaps). "
            "Every endpoint but /healthz needs `Authorization: Bearer <token>`."
        ),
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.gateway_events = gateway_events
    hub = StreamHub(services)
    app.state.stream_hub = hub
    live_values = LiveValues(services, hub)
    install_problem_handlers(app)
    app.add_middleware(
        LimitsMiddleware,
        limiter=TokenBucketLimiter(api_settings.rate_per_s, api_settings.rate_burst),
        max_body_bytes=api_settings.max_body_bytes,
    )
    app.include_router(alerts_api.router)
    app.include_router(alert_workflow_api.router)
    app.include_router(alarm_metrics_api.router)
    app.include_router(admin_api.router)
    app.include_router(registry_api.router)
    app.include_router(rules_api.router)
    app.include_router(gateway_events_api.router)
    app.include_router(health.router)
    app.include_router(stream_api.router)
    app.include_router(console_api.router)
    return app
