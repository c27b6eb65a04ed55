"""``/healthz``: liveness plus the state and counters of the API's two consumers.

Always 200 while the process answers, so an orchestrator restarts it only when
it is really gone; ``status`` is ``degraded`` while the alerts consumer is not
connected (starting, Kafka unreachable, or ``failed``). The gateway events
consumer is shown beside it but does not set ``status``: without it the wall
misses data gaps, while alerts still flow.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from cloud_api.alerts_consumer import AlertsConsumer
from cloud_api.dependencies import get_consumer
from cloud_api.schemas import ConsumerHealth, Health
from cloud_api.topic_consumer import ConsumerStats

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Process and consumer health")
async def healthz(consumer: Annotated[AlertsConsumer, Depends(get_consumer)], request: Request) -> Health:
    events = getattr(request.app.state, "gateway_events_consumer", None)
    return Health(
        status="ok" if consumer.stats.connected else "degraded",
        consumer=_health(consumer.stats),
        gateway_events=_health(events.stats) if events is not None else None,
    )


def _health(stats: ConsumerStats) -> ConsumerHealth:
    return ConsumerHealth(
        state=stats.state,
        connected=stats.connected,
        events_consumed=stats.events_consumed,
        events_malformed=stats.events_malformed,
        events_duplicate=stats.events_duplicate,
        last_error=stats.last_error,
    )
