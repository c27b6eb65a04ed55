"""``/healthz``: liveness plus the alerts consumer's state and counters.

Always 200 while the process answers, so an orchestrator restarts it only when
it is really gone; ``status`` is ``degraded`` while the consumer is not
connected (starting, Kafka unreachable, or ``failed``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from cloud_api.alerts_consumer import AlertsConsumer
from cloud_api.dependencies import get_consumer
from cloud_api.schemas import ConsumerHealth, Health

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Process and consumer health")
async def healthz(consumer: Annotated[AlertsConsumer, Depends(get_consumer)]) -> Health:
    stats = consumer.stats
    return Health(
        status="ok" if stats.connected else "degraded",
        consumer=ConsumerHealth(
            state=stats.state,
            connected=stats.connected,
            events_consumed=stats.events_consumed,
            events_malformed=stats.events_malformed,
            events_duplicate=stats.events_duplicate,
            last_error=stats.last_error,
        ),
    )
