"""Create or update the dashboards in a running Grafana, through grafana-client.

Idempotent by uid: each dashboard is fetched first; one that is identical (and
in the right folder) is left alone, so re-running ``push`` adds nothing to
Grafana's version history. A new or different one is saved with
``overwrite: true`` into the folder, which makes a new version whose message
says what changed (:mod:`dashboards.changes`); earlier versions stay
restorable in Grafana.

Calls, in order (all under ``<url>/api``): ``GET /health`` (is it Grafana?),
``GET /folders/<uid>`` and, if missing, ``POST /folders``; then per dashboard
``GET /dashboards/uid/<uid>`` and, unless unchanged, ``POST /dashboards/db``.

Failures are translated at this boundary (:mod:`dashboards.errors`): nothing
listening or not Grafana → :class:`GrafanaUnreachable`; 401/403 →
:class:`GrafanaAuthError`, both raised at once since every later call would
fail the same way. A dashboard Grafana refuses (400, 412, 5xx) is reported as
``refused`` with Grafana's message and the others are still pushed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit, urlunsplit

import niquests
from grafana_client import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaTimeoutError,
    GrafanaUnauthorizedError,
)

from dashboards.changes import comparable, describe_changes, version_message
from dashboards.errors import GrafanaAuthError, GrafanaRefused, GrafanaUnreachable
from parkwatch.errors import ConfigError

__all__ = ["DEFAULT_FOLDER_TITLE", "DEFAULT_FOLDER_UID", "Grafana", "PushResult", "push_dashboards"]

DEFAULT_FOLDER_UID = "parkwatch"
DEFAULT_FOLDER_TITLE = "parkwatch"

Outcome = Literal["created", "updated", "unchanged", "refused"]


@dataclass(frozen=True, slots=True)
class PushResult:
    """What happened to one dashboard."""

    uid: str
    title: str
    outcome: Outcome
    version: int | None = None
    changes: tuple[str, ...] = field(default=())
    detail: str = ""

    def line(self) -> str:
        """One line for the terminal, for example ``parkwatch-overview  updated  v4  panels changed: CH4``."""
        version = f"v{self.version}" if self.version is not None else "-"
        what = "; ".join(self.changes) or self.detail
        return f"{self.uid:<22} {self.outcome:<9} {version:<5} {what}".rstrip()


_OS_ERROR = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_UNRESOLVED = re.compile(r"Failed to resolve '([^']+)'")


def _network_reason(exc: Exception) -> str:
    """The OS-level reason inside niquests' nested messages ("Connection refused"), else the message."""
    text = exc.message if isinstance(exc, GrafanaException) else str(exc)
    if unresolved := _UNRESOLVED.search(text):
        return f"host name {unresolved.group(1)!r} does not resolve"
    found = _OS_ERROR.search(text)
    return found.group(1).strip().lower() if found else text


def _grafana_message(exc: GrafanaException) -> str:
    response = exc.response
    if isinstance(response, dict) and response.get("message"):
        status = f" ({response['status']})" if response.get("status") else ""
        return f"{response['message']}{status}"
    return str(response or exc.message).strip() or f"HTTP {exc.status_code}"


class Grafana:
    """One Grafana's HTTP API, with every failure turned into a :class:`~dashboards.errors.GrafanaError`.

    ``url`` is where Grafana's UI is (``http://grafana:3000`` or
    ``https://example.org/grafana/``); ``token`` a service-account token with
    the Editor role (sent as ``Authorization: Bearer``). Construction checks the
    URL's form only; the first request is :meth:`check`.
    """

    def __init__(self, url: str, token: str | None, *, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"Grafana URL {url!r} must look like http://host:3000 or https://host/grafana/")
        # grafana-client appends "api" to the path as is: "/grafana" would become "/grafanaapi".
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        full = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
        self._api = GrafanaApi.from_url(full, credential=token or None, timeout=timeout_s)
        #: The URL without user:password, for messages.
        self.url = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], path, "", ""))
        self._has_credentials = bool(token) or bool(parts.username)
        self._credentials = "the token" if token else "the user and password in the URL"

    def _fail(self, what: str, exc: Exception) -> NoReturn:
        if isinstance(exc, GrafanaUnauthorizedError) and not self._has_credentials:
            raise GrafanaAuthError(
                f"Grafana at {self.url} wants credentials (HTTP 401); pass --token or set GRAFANA_TOKEN"
            ) from exc
        if isinstance(exc, GrafanaUnauthorizedError):
            raise GrafanaAuthError(
                f"Grafana at {self.url} refused {self._credentials} (HTTP 401: {_grafana_message(exc)}); "
                "check --token (a service-account token with the Editor role)"
            ) from exc
        if isinstance(exc, GrafanaClientError) and exc.status_code == 403:
            raise GrafanaAuthError(
                f"{self._credentials} may not change {what} in Grafana at {self.url} "
                f"(HTTP 403: {_grafana_message(exc)}); it needs the Editor role"
            ) from exc
        if isinstance(exc, GrafanaTimeoutError):
            raise GrafanaUnreachable(f"Grafana at {self.url} did not answer in time: {exc.message}") from exc
        if isinstance(exc, GrafanaClientError | GrafanaServerError):
            raise GrafanaRefused(what, exc.status_code, _grafana_message(exc)) from exc
        if isinstance(exc, niquests.exceptions.JSONDecodeError):
            raise GrafanaUnreachable(
                f"{self.url} answered {what} with something that is not JSON; is it Grafana's URL?"
            ) from exc
        if isinstance(exc, GrafanaException | niquests.exceptions.RequestException):
            raise GrafanaUnreachable(
                f"cannot reach Grafana at {self.url}: {_network_reason(exc)}; check --url"
            ) from exc
        raise exc

    def _call(self, what: str, method: str, path: str, *, json: dict[str, Any] | None = None) -> Any:
        try:
            if json is None:
                return getattr(self._api.client, method)(path)
            return getattr(self._api.client, method)(path, json=json)
        except (GrafanaException, niquests.exceptions.RequestException) as exc:
            self._fail(what, exc)

    def check(self) -> str:
        """Grafana's version, from the unauthenticated health endpoint; proves the URL is Grafana."""
        try:
            health = self._call("the health check", "GET", "/health")
        except GrafanaRefused as exc:
            raise GrafanaUnreachable(
                f"no Grafana API at {self.url} (GET {self.url}api/health answered HTTP {exc.status}); "
                "check --url"
            ) from exc
        if not isinstance(health, dict) or "database" not in health:
            raise GrafanaUnreachable(
                f"{self.url} does not look like Grafana: /api/health answered {health!r:.80}; check --url"
            )
        return str(health.get("version", "unknown"))

    def ensure_folder(self, uid: str, title: str) -> bool:
        """Create the folder unless it exists; returns whether it was created."""
        try:
            self._call(f"folder {uid!r}", "GET", f"/folders/{uid}")
            return False
        except GrafanaRefused as exc:
            if exc.status != 404:
                raise
        self._call(f"folder {uid!r}", "POST", "/folders", json={"uid": uid, "title": title})
        return True

    def get_dashboard(self, uid: str) -> dict[str, Any] | None:
        """``{"dashboard": ..., "meta": ...}`` as Grafana holds it, or None if there is none."""
        try:
            found: dict[str, Any] = self._call(f"dashboard {uid!r}", "GET", f"/dashboards/uid/{uid}")
        except GrafanaRefused as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def save_dashboard(self, doc: dict[str, Any], *, folder_uid: str, message: str) -> dict[str, Any]:
        """Create or overwrite the dashboard with ``doc``'s uid; Grafana keeps the old version."""
        body = {"dashboard": comparable(doc), "folderUid": folder_uid, "overwrite": True, "message": message}
        saved: dict[str, Any] = self._call(f"dashboard {doc['uid']!r}", "POST", "/dashboards/db", json=body)
        return saved


def _push_one(grafana: Grafana, doc: dict[str, Any], folder_uid: str, prefix: str) -> PushResult:
    uid, title = doc["uid"], doc["title"]
    current = grafana.get_dashboard(uid)
    if current is None:
        changes = ["created"]
    else:
        changes = describe_changes(current.get("dashboard", {}), doc)
        if current.get("meta", {}).get("folderUid", "") != folder_uid:
            changes.append(f"moved to folder {folder_uid}")
        if not changes:
            return PushResult(uid, title, "unchanged", current.get("dashboard", {}).get("version"))
    saved = grafana.save_dashboard(doc, folder_uid=folder_uid, message=version_message(changes, prefix))
    outcome: Outcome = "created" if current is None else "updated"
    return PushResult(uid, title, outcome, saved.get("version"), tuple(changes))


def push_dashboards(
    grafana: Grafana,
    docs: Iterable[dict[str, Any]],
    *,
    folder_uid: str = DEFAULT_FOLDER_UID,
    folder_title: str = DEFAULT_FOLDER_TITLE,
    message: str = "parkwatch dashboards push",
) -> Iterator[PushResult]:
    """Push ``docs`` into the folder, yielding one result per dashboard as it is done.

    Raises :class:`GrafanaUnreachable` or :class:`GrafanaAuthError` at the
    first call that shows them, and :class:`GrafanaRefused` if the folder
    cannot be created; a refused dashboard is yielded with outcome ``refused``.
    """
    grafana.check()
    grafana.ensure_folder(folder_uid, folder_title)
    for doc in docs:
        try:
            yield _push_one(grafana, doc, folder_uid, message)
        except GrafanaRefused as exc:
            yield PushResult(doc["uid"], doc["title"], "refused", detail=str(exc))
