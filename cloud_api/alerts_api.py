"""``/api/v1/alerts``: list alerts with filters and cursor pagination, get one with its history.

Handlers are plain functions (FastAPI runs them in its thread pool) because
the store's calls block.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError

from cloud_api.dependencies import get_store
from cloud_api.problems import problem_responses
from cloud_api.schemas import Alert, AlertDetail, AlertHistoryItem, AlertList
from cloud_api.store import AlertQuery, AlertStore
from parkwatch.wire.alerts import AlertState, Severity
from parkwatch.wire.topics import ID_PATTERN

__all__ = ["router", "encode_cursor", "decode_cursor"]

#: Largest integer the stores accept (signed 64-bit).
_MAX_MS: Final = 2**63 - 1
MAX_LIMIT: Final = 500

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=problem_responses(422, 503))


def encode_cursor(after: tuple[int, str]) -> str:
    """Opaque cursor for the page after ``(started_ms, id)``.

    >>> encode_cursor((1764189600000, "44387c5e"))
    'MTc2NDE4OTYwMDAwMDo0NDM4N2M1ZQ'
    >>> decode_cursor(encode_cursor((1764189600000, "44387c5e")))
    (1764189600000, '44387c5e')
    """
    started_ms, alert_id = after
    return base64.urlsafe_b64encode(f"{started_ms}:{alert_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Inverse of :func:`encode_cursor`; ``ValueError`` if ``cursor`` is not one."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor returned by this API") from exc
    started, sep, alert_id = text.partition(":")
    if not sep or not started.isdigit() or not alert_id or int(started) > _MAX_MS:
        raise ValueError("not a cursor returned by this API")
    return int(started), alert_id


def _invalid(name: str, message: str, value: object) -> RequestValidationError:
    """A validation error shaped like FastAPI's own, so it becomes the same 422 problem."""
    error = {"type": "value_error", "loc": ("query", name), "msg": message, "input": value}
    return RequestValidationError([error])


@router.get(
    "/alerts",
    response_model=AlertList,
    summary="List alerts",
    description=(
        "Alerts matching every given filter, newest `started_ms` first (ties by id). "
        "`total` counts all matches; follow `next_cursor` for the next page."
    ),
)
def list_alerts(
    store: Annotated[AlertStore, Depends(get_store)],
    site: Annotated[str | None, Query(pattern=ID_PATTERN.pattern, description="Site id.")] = None,
    device: Annotated[str | None, Query(pattern=ID_PATTERN.pattern, description="Device id.")] = None,
    state: Annotated[list[AlertState] | None, Query(description="Repeat for any of several states.")] = None,
    severity: Annotated[
        list[Severity] | None, Query(description="Repeat for any of several severities.")
    ] = None,
    since_ms: Annotated[
        int | None, Query(ge=0, le=_MAX_MS, description="Started at or after (epoch ms).")
    ] = None,
    until_ms: Annotated[int | None, Query(ge=0, le=_MAX_MS, description="Started before (epoch ms).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> AlertList:
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise _invalid("until_ms", "must not be before since_ms", until_ms)
    try:
        after = decode_cursor(cursor) if cursor is not None else None
    except ValueError as exc:
        raise _invalid("cursor", str(exc), cursor) from exc
    page = store.query(
        AlertQuery(
            site=site,
            device=device,
            states=tuple(state or ()),
            severities=tuple(severity or ()),
            since_ms=since_ms,
            until_ms=until_ms,
            limit=limit,
            after=after,
        )
    )
    return AlertList(
        items=[Alert.model_validate(event) for event in page.items],
        next_cursor=encode_cursor(page.next_after) if page.next_after else None,
        total=page.total,
    )


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertDetail,
    summary="Get one alert with its state history",
    responses=problem_responses(404),
)
def get_alert(
    store: Annotated[AlertStore, Depends(get_store)],
    alert_id: Annotated[str, Path(min_length=1, max_length=128, description="The alert id.")],
) -> AlertDetail:
    found = store.get(alert_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no alert with id {alert_id!r}")
    return AlertDetail(
        **Alert.model_validate(found.alert).model_dump(),
        history=[AlertHistoryItem.model_validate(h) for h in found.history],
    )
