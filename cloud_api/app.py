"""Builds the cloud API: FastAPI app, alert store and the consumer that feeds it.

:func:`create_app` only builds and validates (an unsupported ``api_db_url``
raises :class:`~parkwatch.errors.ConfigError` here, before any port opens).
The lifespan does the I/O: it opens the store, starts the alerts consumer,
and on shutdown stops the consumer before closing the store.

Example (nothing is opened until the app is served)::

    >>> from parkwatch.settings import Settings
    >>> app = create_app(Settings(api_db_url="sqlite:///:memory:"))
    >>> sorted(app.openapi()["paths"])
    ['/api/v1/alerts', '/api/v1/alerts/{alert_id}', '/healthz']
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cloud_api import alerts_api, health
from cloud_api.alerts_consumer import AlertsConsumer
from cloud_api.problems import install_problem_handlers
from cloud_api.store import store_for
from parkwatch.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """The API for ``settings``: Kafka at ``kafka_bootstrap``, store at ``api_db_url``."""
    store = store_for(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(store.open)
        consumer = AlertsConsumer(store, settings.kafka_bootstrap)
        app.state.store = store
        app.state.consumer = consumer
        await consumer.start()
        log.info("cloud API started: store %r, Kafka %s", store, settings.kafka_bootstrap)
        try:
            yield
        finally:
            await consumer.stop()
            store.close()
            log.info("cloud API stopped")

    app = FastAPI(
        title="parkwatch cloud API",
        version="1",
        description="Alerts from the parkwatch stream processor, for inspectors and command centres.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(alerts_api.router)
    app.include_router(health.router)
    return app
