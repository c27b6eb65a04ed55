"""What request handlers get injected (FastAPI dependencies).

The lifespan in :mod:`cloud_api.app` puts the opened store and the running
consumer on ``app.state``; handlers reach them only through these functions,
so tests can override them and later concerns (the authenticated principal,
its roles) join here as further dependencies.
"""

from __future__ import annotations

from fastapi import Request

from cloud_api.alerts_consumer import AlertsConsumer
from cloud_api.store import AlertStore

__all__ = ["get_store", "get_consumer"]


def get_store(request: Request) -> AlertStore:
    store: AlertStore = request.app.state.store
    return store


def get_consumer(request: Request) -> AlertsConsumer:
    consumer: AlertsConsumer = request.app.state.consumer
    return consumer
