"""The API's alert store: the contract every backend implements, and how one is chosen.

The store is a projection of the ``alerts`` topic. It keeps one row per alert
id (the event with the newest ``updated_ms``) and every distinct state change
in a history, plus the next Kafka offset of each partition it has applied, in
the same transaction as the events. Because positions live with the data, a
fresh or restored database replays the topic from where *it* stopped, not from
wherever the consumer group last committed.

Who calls what:

* the alerts consumer calls :meth:`AlertStore.apply` from a worker thread, one
  batch at a time, and :meth:`AlertStore.positions` when partitions are assigned;
* request handlers call :meth:`AlertStore.query` and :meth:`AlertStore.get`
  from the server's thread pool, concurrently with ``apply``;
* the app's lifespan calls :meth:`AlertStore.open` once before any other call
  and :meth:`AlertStore.close` once after the last.

Implementations are thread-safe and translate their driver's exceptions into
:class:`StoreError`. :func:`store_for` builds the one implementation,
:class:`cloud_api.sql_store.SqlAlertStore`, on the database ``settings.api_db_url``
names (SQLite or PostgreSQL, through the same SQLAlchemy Core code).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from parkwatch.errors import ParkwatchError
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent, AlertState, Severity

if TYPE_CHECKING:
    from cloud_api.sql_store import SqlAlertStore

__all__ = [
    "AlertStore",
    "AlertQuery",
    "AlertPage",
    "AlertHistoryEntry",
    "AlertWithHistory",
    "AlertAction",
    "ApplyResult",
    "PartitionKey",
    "StoreError",
    "store_for",
]

#: ``(topic, partition)`` of a Kafka partition whose position the store keeps.
PartitionKey = tuple[str, int]


class StoreError(ParkwatchError):
    """The alert store failed (I/O, corruption, schema); the operation did not happen."""


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """Which alerts to list: every given filter must match; empty means "any".

    Ordered newest first by ``(started_ms, id)``, which never changes for an alert,
    so keyset pages stay stable while alerts are updated. ``after`` is the
    ``(started_ms, id)`` of the last item of the previous page.
    """

    site: str | None = None
    #: Only these sites (an inspector's assignment); ``None`` means every site.
    sites: tuple[str, ...] | None = None
    device: str | None = None
    #: Members of this flood incident (alerts whose ``group`` is its id).
    group: str | None = None
    states: tuple[AlertState, ...] = ()
    severities: tuple[Severity, ...] = ()
    #: Alerts that started at or after this time (inclusive).
    since_ms: int | None = None
    #: Alerts that started before this time (exclusive).
    until_ms: int | None = None
    limit: int = 100
    after: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class AlertPage:
    """One page of a query. ``total`` counts every match, ignoring ``limit`` and ``after``."""

    items: list[AlertEvent]
    total: int
    #: ``(started_ms, id)`` to pass as ``after`` for the next page; ``None`` on the last page.
    next_after: tuple[int, str] | None


@dataclass(frozen=True, slots=True)
class AlertHistoryEntry:
    """One state change of an alert, as its event carried it."""

    state: AlertState
    severity: Severity
    updated_ms: int
    value: float | None
    score: float | None
    message: str


@dataclass(frozen=True, slots=True)
class AlertAction:
    """Something an operator did to an alert, with who and when."""

    at_ms: int
    actor: str
    #: ``acknowledge``, ``resolve``, ``shelve``, ``unshelve``, ``assign``, ``comment``, ``suppress``.
    action: str
    comment: str | None = None
    assignee: str | None = None
    until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AlertWithHistory:
    """An alert's current state, its state changes and operator actions, oldest first."""

    alert: AlertEvent
    history: list[AlertHistoryEntry]
    actions: list[AlertAction] = field(default_factory=list)
    assignee: str | None = None
    shelved_until_ms: int | None = None


@dataclass(slots=True)
class ApplyResult:
    """What one :meth:`AlertStore.apply` did, for the consumer's counters."""

    #: State changes not seen before (added to the history).
    recorded: int = 0
    #: Events already in the history: redeliveries, replays.
    duplicates: int = 0
    #: Events older than the stored alert: kept in the history, current row unchanged.
    stale: int = 0
    #: New ``open`` events stored as ``suppressed`` by an active maintenance window.
    suppressed: list[AlertEvent] = field(default_factory=list)


class AlertStore(Protocol):
    """Current alerts and their history; see the module docstring for the call contract."""

    def open(self) -> None:
        """Connect and create or migrate the schema. Raises :class:`StoreError`."""
        ...

    def close(self) -> None:
        """Release connections; idempotent."""
        ...

    def apply(self, events: Sequence[AlertEvent], positions: Mapping[PartitionKey, int]) -> ApplyResult:
        """Upsert events and record the partitions' next offsets, all in one transaction.

        Idempotent: an event already in the history changes nothing, so a batch
        redelivered after a crash is harmless. ``positions`` may cover records
        that were not events (malformed ones), so they are not read again.
        """
        ...

    def positions(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition of ``topic``, for partitions applied before."""
        ...

    def query(self, query: AlertQuery) -> AlertPage:
        """Alerts matching ``query``, newest first."""
        ...

    def get(self, alert_id: str) -> AlertWithHistory | None:
        """One alert with its history, or ``None`` if the id is unknown."""
        ...


def store_for(settings: Settings) -> SqlAlertStore:
    """The store ``settings.api_db_url`` names, constructed but not opened (no I/O).

    Accepted URLs: empty (SQLite at ``<state_dir>/api.sqlite``), ``sqlite:///relative/path``,
    ``sqlite:////absolute/path``, ``sqlite:///:memory:`` and ``postgresql://user:pw@host:port/db``.

    >>> store_for(Settings(api_db_url="mysql://db/pw"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    parkwatch.errors.ConfigError: api_db_url: unsupported backend 'mysql' in 'mysql://db/pw'; known: ...
    """
    from cloud_api.db import Database, normalise_url
    from cloud_api.sql_store import SqlAlertStore

    return SqlAlertStore(Database(normalise_url(settings.api_db_url, settings.state_dir)))
