"""What request handlers get injected (FastAPI dependencies).

:func:`cloud_api.app.create_app` puts one :class:`Services` on ``app.state``;
handlers reach its parts only through these functions, so tests can override
them. Who is calling is :func:`get_principal`; :func:`require` turns a set of
roles into a dependency that answers 403 for the others.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloud_api.accounts import AccountStore, Principal, Role
from cloud_api.alarm_metrics import AlarmMetrics
from cloud_api.alerts_consumer import AlertsConsumer
from cloud_api.audit import AuditLog
from cloud_api.config import ApiSettings
from cloud_api.shared_answers import SharedAnswers
from cloud_api.sql_store import SqlAlertStore
from parkwatch.settings import Settings

if TYPE_CHECKING:
    from cloud_api.publisher import Publisher
    from cloud_api.registry import Registry
    from cloud_api.rules import RuleBook

__all__ = [
    "Services",
    "ANONYMOUS",
    "now_ms",
    "get_services",
    "get_store",
    "get_consumer",
    "get_principal",
    "require",
    "CurrentPrincipal",
    "read_threads",
    "run_read",
]

_T = TypeVar("_T")

#: Who calls when ``PARKWATCH_API_AUTH=off``: a read-only viewer of every site.
ANONYMOUS = Principal("anonymous", "viewer", None)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Services:
    settings: Settings
    api_settings: ApiSettings
    store: SqlAlertStore
    accounts: AccountStore
    audit: AuditLog
    publisher: Publisher
    registry: Registry
    rules: RuleBook
    consumer: AlertsConsumer | None = None
    #: Threads for the short, frequent store reads (:func:`run_read`); see :func:`read_threads`.
    read_limiter: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(1))
    #: Long store reports (alarm figures): one at a time, so a burst of them queues here instead
    #: of taking every pooled connection from the short reads (see :func:`run_report`).
    report_limiter: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(1))
    #: The default range's alarm figures by scope of sites (``None``: all), shared by the walls.
    alarm_figures: SharedAnswers[tuple[str, ...] | None, AlarmMetrics] = field(default_factory=SharedAnswers)


def read_threads(dialect: str) -> int:
    """How many short store reads may run at once.

    A SQLite read is CPU in this process: more threads than one only take turns
    on the GIL, and that contention costs more CPU than the reads themselves
    (with ten list requests in flight, one thread answered twice as many per
    second as ten). A PostgreSQL read mostly waits on the server, so several
    may overlap (the engine's pool holds five connections).

    >>> read_threads("sqlite"), read_threads("postgresql")
    (1, 4)
    """
    return 1 if dialect == "sqlite" else 4


async def run_read(services: Services, func: Callable[..., _T], *args: object) -> _T:
    """``func(*args)`` in a worker thread limited by ``services.read_limiter``.

    For short, blocking reads done on every request (token check, alert list); anything
    that may wait long (Kafka, InfluxDB) belongs in FastAPI's own thread pool instead.
    """
    return await anyio.to_thread.run_sync(func, *args, limiter=services.read_limiter)


async def run_report(services: Services, func: Callable[..., _T], *args: object) -> _T:
    """``func(*args)`` in a worker thread, one at a time (``services.report_limiter``).

    For reads that take a good part of a second (alarm figures over a day of alerts): 50
    of them at once each took a pooled connection and waited its turn on two cores, and
    some waited the pool's 30 s out (503).
    """
    return await anyio.to_thread.run_sync(func, *args, limiter=services.report_limiter)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# The dependencies that only look something up are coroutines: FastAPI runs a plain function
# dependency in its thread pool, a hop that costs more than the lookup under load.


async def get_services(request: Request) -> Services:
    return _services(request)


async def get_store(request: Request) -> SqlAlertStore:
    return _services(request).store


async def get_consumer(request: Request) -> AlertsConsumer:
    consumer = _services(request).consumer
    assert consumer is not None, "the lifespan starts the consumer before serving"
    return consumer


_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer pw_<id>_<secret>`")


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller; 401 without a valid token (unless authentication is off and none is given).

    A token verified less than :data:`~cloud_api.accounts.TOKEN_CACHE_S` ago is taken on trust
    (:meth:`~cloud_api.accounts.AccountStore.cached`); a revocation elsewhere arrives within that.
    """
    services = _services(request)
    if services.api_settings.auth == "off" and credentials is None:
        # Off means "reading needs no token"; a caller with a token is still that user (a local
        # park applies its rules as its own admin).
        return ANONYMOUS
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "this endpoint needs `Authorization: Bearer <token>`", headers=challenge)
    if len(credentials.credentials) > 200:
        raise HTTPException(401, "the token is not valid", headers=challenge)
    # A token verified in the last few seconds is answered here, on the loop: no thread hop, no read.
    now = now_ms()
    principal = services.accounts.cached(credentials.credentials, now)
    if principal is None:
        principal = await run_read(services, services.accounts.authenticate, credentials.credentials, now)
    if principal is None:
        raise HTTPException(401, "the token is unknown, revoked or expired", headers=challenge)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency giving the principal if its role is one of ``roles``, else 403."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(403, f"role {principal.role!r} may not do this; allowed: {', '.join(roles)}")
        return principal

    return check
