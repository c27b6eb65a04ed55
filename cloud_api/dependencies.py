"""What request handlers get injected (FastAPI dependencies).

:func:`cloud_api.app.create_app` puts one :class:`Services` on ``app.state``;
handlers reach its parts only through these functions, so tests can override
them. Who is calling is :func:`get_principal`; :func:`require` turns a set of
roles into a dependency that answers 403 for the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloud_api.accounts import AccountStore, Principal, Role
from cloud_api.alerts_consumer import AlertsConsumer
from cloud_api.audit import AuditLog
from cloud_api.config import ApiSettings
from cloud_api.sql_store import SqlAlertStore
from parkwatch.settings import Settings

if TYPE_CHECKING:
    from cloud_api.publisher import AlertPublisher
    from cloud_api.registry import Registry

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
]

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
    publisher: AlertPublisher
    registry: Registry
    consumer: AlertsConsumer | None = None


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_store(request: Request) -> SqlAlertStore:
    return get_services(request).store


def get_consumer(request: Request) -> AlertsConsumer:
    consumer = get_services(request).consumer
    assert consumer is not None, "the lifespan starts the consumer before serving"
    return consumer


_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer pw_<id>_<secret>`")


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller; 401 without a valid token (unless authentication is off)."""
    services = get_services(request)
    if services.api_settings.auth == "off":
        return ANONYMOUS
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "this endpoint needs `Authorization: Bearer <token>`", headers=challenge)
    if len(credentials.credentials) > 200:
        raise HTTPException(401, "the token is not valid", headers=challenge)
    principal = services.accounts.authenticate(credentials.credentials, now_ms())
    if principal is None:
        raise HTTPException(401, "the token is unknown, revoked or expired", headers=challenge)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency giving the principal if its role is one of ``roles``, else 403."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(403, f"role {principal.role!r} may not do this; allowed: {', '.join(roles)}")
        return principal

    return check
