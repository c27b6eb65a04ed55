"""``/api/v1/stream``: alert changes pushed over a WebSocket, with catch-up after a reconnect.

Browsers cannot set headers on a WebSocket, so the token comes as the
``token`` query parameter, or as the first message ``{"type": "auth", "token":
"pw_..."}`` within 10 s (keeps it out of access logs), or as the usual
``Authorization`` header for other clients. With ``PARKWATCH_API_AUTH=off``
every caller is the anonymous viewer and nothing is asked.

Messages from the server (JSON text)::

    {"type": "hello", "seq": 41, "user": "ines", "role": "inspector", "sites": ["north"]}
    {"type": "alert", "seq": 42, "alert": {... the alert as in GET /api/v1/alerts ...}}
    {"type": "reset", "seq": 97}    # too much was missed: reload with REST, continue from 97
    {"type": "values", "items": [...]}  # with ?values=true: points' newest readings, on change
    {"type": "ping"}                # every 15 s when idle
    {"type": "error", "status": 401, "detail": "..."}   # then the socket closes

``seq`` rises with every alert change the store applies (see
:mod:`cloud_api.stream_log`); a client keeps the last one it saw and
reconnects with ``?since=<seq>``: it is first sent every change after it that
it may see (oldest first), then live ones, without gaps or repeats. An
inspector is sent only the assigned sites; roles without clearance get
sensitive points masked, as in the REST API. Values are not numbered and not
replayed: see :mod:`cloud_api.live_values`.

Close codes: 4401 no or bad token; 4408 the client fell too far behind
(reconnect with ``since``); 1001 the server is shutting down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Final

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from cloud_api import stream_log
from cloud_api.accounts import Principal
from cloud_api.dependencies import ANONYMOUS, Services, now_ms
from cloud_api.masking import is_sensitive, mask_event, must_mask
from cloud_api.stream_hub import StreamHub, alert_message

__all__ = ["router", "REPLAY_MAX", "AUTH_TIMEOUT_S", "PING_S"]

#: More missed changes than this and the client is told to reload (``reset``) instead.
REPLAY_MAX: Final = 5000
AUTH_TIMEOUT_S: Final = 10.0
PING_S: Final = 15.0

router = APIRouter(tags=["stream"])


async def _authenticate(websocket: WebSocket, services: Services, token: str | None) -> Principal | None:
    if services.api_settings.auth == "off":
        return ANONYMOUS
    if token is None:
        header = websocket.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
    if token is None:
        try:
            first = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S)
            message = json.loads(first)
            token = message.get("token") if isinstance(message, dict) else None
        except (TimeoutError, ValueError):
            token = None
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    return await asyncio.to_thread(services.accounts.authenticate, token, now_ms())


async def _replay(
    websocket: WebSocket, services: Services, principal: Principal, since: int, head: int
) -> int:
    """Send what the client missed after ``since``; returns the last ``seq`` it now has."""
    db = services.store.db
    if since > head and since > await asyncio.to_thread(stream_log.head, db):
        # A seq from before the database was rebuilt: start again.
        await websocket.send_text(json.dumps({"type": "reset", "seq": head}))
        return head
    oldest = await asyncio.to_thread(stream_log.oldest, db)
    entries = await asyncio.to_thread(stream_log.read_since, db, since, principal.sites, REPLAY_MAX + 1)
    if len(entries) > REPLAY_MAX or (oldest and since < oldest - 1):
        newest = max(head, entries[-1].seq if entries else 0)
        await websocket.send_text(json.dumps({"type": "reset", "seq": newest}))
        return newest
    sensitive_read: list[str] = []
    for entry in entries:
        event = entry.event
        sensitive = is_sensitive(services.registry, event)
        if must_mask(principal, sensitive):
            event = mask_event(event)
        elif sensitive:
            sensitive_read.append(event.id)
        await websocket.send_text(alert_message(entry.seq, event))
    if sensitive_read:
        await asyncio.to_thread(
            services.audit.record,
            now_ms(),
            principal.name,
            principal.role,
            "sensitive.read",
            "stream",
            {"alert_ids": sensitive_read},
        )
    return max(since, entries[-1].seq) if entries else since


async def _read_client(websocket: WebSocket) -> None:
    """Answer pings; return when the client goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            text = await websocket.receive_text()
            with contextlib.suppress(ValueError):
                message = json.loads(text)
                if isinstance(message, dict) and message.get("type") == "ping":
                    await websocket.send_text('{"type":"pong"}')


@router.websocket("/api/v1/stream")
async def stream(
    websocket: WebSocket,
    since: Annotated[int | None, Query(ge=0, description="Last `seq` the client saw.")] = None,
    token: Annotated[str | None, Query(max_length=200)] = None,
    values: Annotated[bool, Query(description="Also send points' live values.")] = False,
) -> None:
    """Alert changes as they are applied; see the module docstring for the protocol."""
    services: Services = websocket.app.state.services
    hub: StreamHub = websocket.app.state.stream_hub
    await websocket.accept()
    principal = await _authenticate(websocket, services, token)
    if principal is None:
        await websocket.send_text(
            json.dumps({"type": "error", "status": 401, "detail": "the token is missing, unknown or expired"})
        )
        await websocket.close(4401)
        return
    subscriber = hub.subscribe(principal, values)
    reader: asyncio.Task[None] | None = None
    try:
        head = hub.delivered
        sites = sorted(principal.sites) if principal.sites is not None else None
        await websocket.send_text(
            json.dumps(
                {"type": "hello", "seq": head, "user": principal.name, "role": principal.role, "sites": sites}
            )
        )
        last = await _replay(websocket, services, principal, since, head) if since is not None else head
        reader = asyncio.create_task(_read_client(websocket))
        while not reader.done():
            getter = asyncio.ensure_future(subscriber.queue.get())
            done, _ = await asyncio.wait({getter, reader}, timeout=PING_S, return_when="FIRST_COMPLETED")
            if getter not in done:
                getter.cancel()
                if not done:
                    await websocket.send_text('{"type":"ping"}')
                continue
            seq, text = getter.result()
            if subscriber.overflowed:
                await websocket.close(4408, "too far behind; reconnect with since")
                return
            if seq is None:
                await websocket.send_text(text)
            elif seq > last:
                await websocket.send_text(text)
                last = seq
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away mid-send
    finally:
        hub.unsubscribe(subscriber)
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await reader
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await websocket.close(1001)
