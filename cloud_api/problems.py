"""Errors as ``application/problem+json`` (RFC 9457), for every status the API returns.

:func:`install_problem_handlers` makes HTTP errors (unknown route, 404, 405),
request validation errors (422), store, Kafka and InfluxDB failures (503) and unexpected
exceptions (500) all answer with a :class:`Problem`, and rewrites the OpenAPI
document so those responses are declared with the problem media type.

``type`` is ``about:blank`` for now, so ``title`` is the HTTP status phrase and
``detail`` says what went wrong; a client tells problems apart by ``status``.
Validation problems add ``errors``, one item per invalid parameter, shaped
like pydantic's (``loc``, ``msg``, ``type``).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_api.publisher import PublishError
from cloud_api.registry import TimeSeriesError
from cloud_api.store import StoreError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "ProblemItem",
    "ProblemResponse",
    "problem",
    "problem_responses",
    "install_problem_handlers",
]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"


class ProblemItem(BaseModel):
    """One invalid input."""

    loc: list[str | int] = Field(description='Where, e.g. ["query", "limit"].')
    msg: str
    type: str = Field(description='pydantic error type, e.g. "less_than_equal".')


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str = Field(description="What went wrong, for a human.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[ProblemItem] | None = Field(default=None, description="Invalid inputs (422 only).")


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entries declaring that these statuses answer with a :class:`Problem`."""
    return {status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses}


def problem(
    request: Request, status: int, detail: str, errors: list[ProblemItem] | None = None
) -> JSONResponse:
    """A problem response for ``request``; ``title`` is the status phrase."""
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return ProblemResponse(body.model_dump(exclude_none=True), status_code=status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    response = problem(request, exc.status_code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = [
        ProblemItem(loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=str(e.get("type", "")))
        for e in exc.errors()
    ]
    detail = "; ".join(f"{_parameter_name(item.loc)}: {item.msg}" for item in items)
    return problem(request, 422, detail or "invalid request", items)


def _parameter_name(loc: list[str | int]) -> str:
    """``["query", "state", 1]`` -> ``"state.1"``: the location without its source."""
    return ".".join(str(part) for part in (loc[1:] if len(loc) > 1 else loc))


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("alert store failed serving %s: %s", request.url.path, exc)
    return problem(request, 503, "the alert store is unavailable; try again later")


async def _publish_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("publishing an alert change failed serving %s: %s", request.url.path, exc)
    return problem(request, 503, "Kafka is unavailable, so the change was not made; try again later")


async def _time_series_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("InfluxDB failed serving %s: %s", request.url.path, exc)
    return problem(request, 503, "the time series store is unavailable; try again later")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette still re-raises the exception after this response, so it is logged with its traceback.
    return problem(request, 500, "unexpected error; see the API's log")


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers and make the OpenAPI document use the problem media type."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(PublishError, _publish_error)
    app.add_exception_handler(TimeSeriesError, _time_series_error)
    app.add_exception_handler(Exception, _unexpected_error)

    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build_openapi()
        _declare_problem_media_type(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_problem_media_type(schema: dict[str, Any]) -> None:
    """FastAPI declares every response model as ``application/json``; move problems over."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                if status[:1] in ("4", "5") and ref.endswith("/Problem"):
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
