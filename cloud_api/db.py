"""The API's relational database: one schema and one code path for SQLite and PostgreSQL.

Everything the API keeps (alerts and their history, who did what to them,
users, tokens, site assignments, the audit log, maintenance windows, monitoring
rules and their versions, gateway events) lives in the tables below, written with SQLAlchemy
Core. The only dialect-specific
piece is ``INSERT ... ON CONFLICT``, which both databases accept and
:func:`insert_for` picks the construct for.

:class:`Database` owns the engine and hands out transactions:

* :meth:`Database.write` is one write transaction. On SQLite it starts with
  ``BEGIN IMMEDIATE``, so two writers queue on the busy timeout instead of
  one of them failing when it upgrades a read lock; in-process writers are
  also serialised by a lock, which is what makes ``:memory:`` safe to share.
* :meth:`Database.read` is one read-only transaction (WAL readers never wait).

Driver errors are translated into :class:`~cloud_api.store.StoreError` at this
boundary, so routes answer 503 and the consumer retries.

Example::

    >>> db = Database("sqlite:///:memory:")
    >>> db.open()
    >>> with db.write() as conn:
    ...     _ = conn.execute(users.insert().values(name="ada", role="admin", created_ms=1))
    >>> with db.read() as conn:
    ...     conn.execute(users.select()).one().name
    'ada'
    >>> db.close()
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateColumn

from cloud_api.store import StoreError
from parkwatch.errors import ConfigError

__all__ = [
    "Database",
    "normalise_url",
    "insert_for",
    "metadata",
    "alerts",
    "alert_history",
    "alert_workflow",
    "alert_actions",
    "consumer_positions",
    "users",
    "user_sites",
    "tokens",
    "audit_log",
    "maintenance_windows",
    "stream_events",
    "rules",
    "rule_versions",
    "gateway_events",
]

metadata = MetaData()

# -- alerts: a projection of the Kafka "alerts" topic (columns = AlertEvent fields) ----------------

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("kind", Text, nullable=False),
    Column("rule", Text, nullable=False),
    Column("severity", String(32), nullable=False),
    Column("site", String(64), nullable=False),
    Column("gateway", String(64), nullable=False),
    Column("device", String(64), nullable=False),
    Column("point", String(64), nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("value", Float),
    Column("score", Float),
    Column("expected_low", Float),
    Column("expected_high", Float),
    Column("message", Text, nullable=False),
    #: The flood incident (an alert of kind ``flood``) this alert is grouped under.
    Column("group", String(128)),
    Column("escalation", Integer, nullable=False, server_default="0"),
    Index("alerts_by_start", "started_ms", "id"),
    Index("alerts_by_site", "site", "started_ms", "id"),
    Index("alerts_by_device", "device", "started_ms", "id"),
    # Filters by state or severity: the list's ``total`` counts from the index alone.
    Index("alerts_by_state", "state", "started_ms", "id"),
    Index("alerts_by_severity", "severity", "started_ms", "id"),
    Index("alerts_by_group", "group", "started_ms", "id"),
)

#: Every distinct state change; ``(alert_id, updated_ms, state)`` identifies one.
alert_history = Table(
    "alert_history",
    metadata,
    Column("alert_id", String(128), primary_key=True),
    Column("updated_ms", BigInteger, primary_key=True),
    Column("state", String(32), primary_key=True),
    Column("severity", String(32), nullable=False),
    Column("value", Float),
    Column("score", Float),
    Column("message", Text, nullable=False),
)

#: What operators set on an alert that the event contract does not carry.
alert_workflow = Table(
    "alert_workflow",
    metadata,
    Column("alert_id", String(128), primary_key=True),
    Column("assignee", String(64)),
    Column("shelved_until_ms", BigInteger),
    #: The state a shelved alert returns to when its shelf time ends.
    Column("state_before_shelve", String(32)),
)

#: Who did what to an alert, and when: acknowledge, resolve, shelve, assign, comment.
alert_actions = Table(
    "alert_actions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(128), nullable=False, index=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("comment", Text),
    Column("assignee", String(64)),
    Column("until_ms", BigInteger),
)

consumer_positions = Table(
    "consumer_positions",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

# -- accounts ------------------------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("disabled", Integer, nullable=False, default=0),
)

#: Sites an inspector may see; ignored for the other roles.
user_sites = Table(
    "user_sites",
    metadata,
    Column("user_name", String(64), primary_key=True),
    Column("site", String(64), primary_key=True),
)

#: API tokens, by the SHA-256 of the secret; the secret itself is shown once and never stored.
tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("user_name", String(64), nullable=False, index=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger),
    Column("revoked_ms", BigInteger),
    Column("description", Text, nullable=False, default=""),
)

# -- audit and maintenance -----------------------------------------------------------------------

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    #: e.g. ``alert.acknowledge``, ``sensitive.read``, ``token.create``.
    Column("action", String(64), nullable=False, index=True),
    Column("target", Text, nullable=False),
    #: JSON object with the request's details.
    Column("detail", Text, nullable=False),
)

maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("gateway", String(64)),
    Column("device", String(64)),
    Column("point", String(64)),
    Column("from_ms", BigInteger, nullable=False),
    Column("until_ms", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

#: Alert state changes as the live stream numbers them (``seq`` rises with every change the
#: store applies), so a reconnecting stream client can ask for what it missed.
#: See :mod:`cloud_api.stream_log`.
stream_events = Table(
    "stream_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("alert_id", String(128), nullable=False),
    Column("site", String(64), nullable=False),
    #: The event as on the wire (``AlertEvent.encode``).
    Column("payload", Text, nullable=False),
    Index("stream_events_by_site", "site", "seq"),
)

# -- monitoring rules (parkwatch.wire.rules) -----------------------------------------------------

#: The newest version of every rule, as published to the Kafka ``rules`` topic.
#: See :mod:`cloud_api.rules`.
rules = Table(
    "rules",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("enabled", Integer, nullable=False),
    #: ``condition.type``, for filtering.
    Column("condition_type", String(32), nullable=False),
    #: ``scope.site``; NULL: the rule watches every site.
    Column("site", String(64)),
    #: The version as on the wire (``Rule.encode``).
    Column("body", Text, nullable=False),
    #: When the rule was deleted (a tombstone published); its versions stay in ``rule_versions``.
    Column("deleted_ms", BigInteger),
    Index("rules_by_site", "site", "id"),
)

#: Every version of every rule, never changed: a rollback adds a new version.
rule_versions = Table(
    "rule_versions",
    metadata,
    Column("rule_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("site", String(64)),
    Column("body", Text, nullable=False),
)

# -- gateway events: a projection of the Kafka "gateway-events" topic (parkwatch.wire.events) -------

#: What the bridges saw of each gateway's link (gaps in its sequence, repeats, status), one row per
#: event id; kept for a retention period. See :mod:`cloud_api.gateway_events`.
gateway_events = Table(
    "gateway_events",
    metadata,
    Column("id", String(64), primary_key=True),
    #: ``gap``, ``duplicate``, ``late``, ``seq_reset``, ``offline`` or ``online``.
    Column("kind", String(16), nullable=False),
    Column("site", String(64), nullable=False),
    Column("gateway", String(64), nullable=False),
    #: ``data`` or ``alarm`` (the sequence concerned); NULL for status events.
    Column("stream", String(16)),
    Column("from_seq", BigInteger),
    Column("to_seq", BigInteger),
    Column("count", BigInteger),
    #: When the bridge observed it (epoch ms): the list's order and the retention's clock.
    Column("ts_ms", BigInteger, nullable=False),
    Column("bridge", String(255), nullable=False),
    Column("detail", Text, nullable=False),
    Index("gateway_events_by_time", "ts_ms", "id"),
    Index("gateway_events_by_site", "site", "gateway", "ts_ms", "id"),
    Index("gateway_events_by_kind", "kind", "ts_ms", "id"),
)

_SCHEMES: Final = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def normalise_url(url: str, state_dir: Path) -> str:
    """The SQLAlchemy URL for ``settings.api_db_url``; :class:`ConfigError` if unsupported.

    >>> normalise_url("", Path("/var/lib/pw"))
    'sqlite:////var/lib/pw/api.sqlite'
    >>> normalise_url("postgresql://pw@db/parkwatch", Path("."))
    'postgresql+psycopg://pw@db/parkwatch'
    >>> normalise_url("mysql://db/pw", Path("."))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    parkwatch.errors.ConfigError: api_db_url: unsupported backend 'mysql' in 'mysql://db/pw'; known: ...
    """
    if not url:
        return f"sqlite:///{state_dir.absolute() / 'api.sqlite'}"
    scheme, sep, rest = url.partition("://")
    backend = scheme.split("+")[0]
    if not sep or backend not in _SCHEMES:
        raise ConfigError(f"api_db_url: unsupported backend {scheme!r} in {url!r}; known: postgresql, sqlite")
    if backend == "sqlite" and (not rest.startswith("/") or rest == "/"):
        raise ConfigError(f"api_db_url: expected sqlite:///<path> or sqlite:///:memory:, got {url!r}")
    if backend != "sqlite" and "+" not in scheme:
        url = f"{_SCHEMES[backend]}://{rest}"
    try:
        make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"api_db_url: cannot parse {url!r}: {exc}") from exc
    return url


def insert_for(conn: Connection | str, table: Table) -> Any:
    """``INSERT`` with ``on_conflict_do_*`` for the connection's dialect, or the dialect named
    (SQLite or PostgreSQL)."""
    name = conn if isinstance(conn, str) else conn.dialect.name
    return (postgresql if name == "postgresql" else sqlite).insert(table)


def _add_missing_columns(conn: Connection) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for columns a table made by an older version lacks.

    New columns must be nullable or have a ``server_default``, so existing rows stay valid.
    """
    inspector = inspect(conn)
    quote = conn.dialect.identifier_preparer.format_table
    for table in metadata.sorted_tables:
        have = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                definition = CreateColumn(column).compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {quote(table)} ADD COLUMN {definition}")


class Database:
    """An engine on ``url`` (SQLAlchemy form, see :func:`normalise_url`) and its transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._write_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    def open(self) -> None:
        """Connect and create missing tables, columns and indexes (existing ones are kept as they are)."""
        if self._engine is not None:
            raise StoreError(f"{self!r} is already open")
        try:
            self._engine = self._create_engine()
            with self.write() as conn:
                metadata.create_all(conn)
                # create_all skips existing tables, indexes and all: add columns and indexes new since then.
                _add_missing_columns(conn)
                for table in metadata.sorted_tables:
                    for index in table.indexes:
                        index.create(conn, checkfirst=True)
        except (SQLAlchemyError, OSError) as exc:
            self.close()
            raise StoreError(f"cannot open {self!r}: {exc}") from exc

    def close(self) -> None:
        """Dispose of the pool; idempotent."""
        with self._write_lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None

    def _create_engine(self) -> Engine:
        url = make_url(self.url)
        if url.get_backend_name() != "sqlite":
            return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        in_memory = url.database in (None, "", ":memory:")
        if in_memory:
            engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            assert url.database is not None
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 5.0})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, record: Any) -> None:
            # Transactions are begun explicitly (below), not by the driver's guesswork.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("parkwatch_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self._write_lock, self._transaction(write=True) as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction (``:memory:`` shares the writer's connection, so its lock too)."""
        in_memory = self.dialect == "sqlite" and make_url(self.url).database in (None, "", ":memory:")
        with self._write_lock if in_memory else contextlib.nullcontext(), self._transaction(write=False) as c:
            yield c

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        engine = self._engine
        if engine is None:
            raise StoreError(f"{self!r} is not open")
        try:
            with engine.connect() as conn:
                conn = conn.execution_options(parkwatch_write=write)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"{self!r}: {exc}") from exc
