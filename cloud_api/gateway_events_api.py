"""``GET /api/v1/gateway-events``: what the bridges saw of each gateway's link.

Every role reads (viewer and up); an inspector sees only the assigned sites
(another site's events are simply not listed, as with alerts). The events come
from the Kafka ``gateway-events`` topic through :mod:`cloud_api.gateway_events`;
``gap`` events are data that never arrived, and the wall counts them.

The app's lifespan also runs :func:`prune_expired`, which deletes events past
the retention every hour.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cloud_api.dependencies import CurrentPrincipal, Services, get_services, run_read
from cloud_api.gateway_events import GatewayEventQuery, GatewayEventStore
from cloud_api.paging import Cursor, Limit, decode_key_cursor, encode_key_cursor, invalid
from cloud_api.problems import problem_responses
from cloud_api.store import StoreError
from parkwatch.wire.events import EventKind, SeqStream
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["router", "GatewayEventItem", "GatewayEventList", "get_gateway_events", "prune_expired"]

log = logging.getLogger(__name__)

_MAX_MS: Final = 2**63 - 1

router = APIRouter(prefix="/api/v1", tags=["gateway events"], responses=problem_responses(401, 422, 429, 503))


class GatewayEventItem(BaseModel):
    """One observation of a bridge about a gateway's link (``parkwatch.wire.events``)."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Derived from the observation: a re-emitted event has the same id.")
    kind: EventKind = Field(
        description="`gap`: seqs `from_seq..to_seq` never arrived (data lost); `duplicate`: `count` "
        "repeats dropped; `late`: `count` arrived after being reported as a gap; `seq_reset`: the "
        "gateway's seq went back from `from_seq` to `to_seq`; `offline` / `online`: its status."
    )
    site: str
    gateway: str
    stream: SeqStream | None = Field(description="`data` (frames) or `alarm`; null for status events.")
    from_seq: int | None
    to_seq: int | None
    count: int | None = Field(description="Seqs concerned (a gap's size); null for status events.")
    ts_ms: int = Field(description="When the bridge observed it (first observation), epoch ms.")
    bridge: str = Field(description="The bridge that observed it.")
    detail: str


class GatewayEventList(BaseModel):
    items: list[GatewayEventItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
    total: int = Field(description="How many events match the filters, over all pages.")


async def get_gateway_events(request: Request) -> GatewayEventStore:
    store: GatewayEventStore = request.app.state.gateway_events
    return store


@router.get(
    "/gateway-events",
    response_model=GatewayEventList,
    summary="List gateway events (data gaps, repeats, seq resets, offline/online)",
    description=(
        "Newest `ts_ms` first (ties by id); every given filter must match. Kept 30 days. "
        "`kind=gap&since_ms=<24 h ago>` gives the data gaps of the last day; `total` counts them."
    ),
)
async def list_gateway_events(
    services: Annotated[Services, Depends(get_services)],
    store: Annotated[GatewayEventStore, Depends(get_gateway_events)],
    principal: CurrentPrincipal,
    site: Annotated[str | None, Query(pattern=ID_PATTERN.pattern, description="Site id.")] = None,
    gateway: Annotated[str | None, Query(pattern=ID_PATTERN.pattern, description="Gateway id.")] = None,
    kind: Annotated[list[EventKind] | None, Query(description="Repeat for any of several kinds.")] = None,
    since_ms: Annotated[
        int | None, Query(ge=0, le=_MAX_MS, description="Observed at or after (epoch ms).")
    ] = None,
    until_ms: Annotated[
        int | None, Query(ge=0, le=_MAX_MS, description="Observed before (epoch ms).")
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> GatewayEventList:
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise invalid("until_ms", "must not be before since_ms", until_ms)
    query = GatewayEventQuery(
        site=site,
        gateway=gateway,
        kinds=tuple(kind or ()),
        since_ms=since_ms,
        until_ms=until_ms,
        sites=principal.sites,
        limit=limit,
        after=decode_key_cursor(cursor),
    )
    page = await run_read(services, store.query, query)
    return GatewayEventList(
        items=[GatewayEventItem.model_validate(e) for e in page.items],
        next_cursor=encode_key_cursor(page.next_after) if page.next_after else None,
        total=page.total,
    )


async def prune_expired(store: GatewayEventStore, interval_s: float = 3600.0) -> None:
    """Delete events past the retention now and every ``interval_s``; runs until cancelled."""
    while True:
        try:
            deleted = await asyncio.to_thread(store.prune)
            if deleted:
                log.info("gateway events: pruned %d older than the retention", deleted)
        except StoreError as exc:  # database away: try again next round
            log.warning("gateway events: pruning failed (retrying in %.0f s): %s", interval_s, exc)
        await asyncio.sleep(interval_s)
