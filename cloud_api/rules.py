"""Monitoring rules: every version kept in the database, the newest published to Kafka ``rules``.

The API is the only writer of the compacted ``rules`` topic
(:mod:`parkwatch.wire.rules`): a change is validated (the route's body is a
:class:`~parkwatch.wire.rules.RuleSpec`), becomes the rule's next version,
is **published first** and then recorded. So a change Kafka did not
acknowledge is refused (503) with nothing recorded, and the workers never
run a version the API does not know. A version is never rewritten: editing,
enabling, disabling and rolling back each add one (a rollback to version N
publishes N's content as the next version). Deleting publishes a tombstone
and marks the rule deleted; its versions stay, and creating the id again
continues its numbering.

Changes are serialised per process by a lock. API processes sharing a
PostgreSQL database can still race: the loser finds its version number
taken when recording, publishes the recorded newest version (or the
tombstone) again so the topic ends with what the database holds, and gets
:class:`RuleConflict` (409). If the database fails after a publish, the
topic holds a version the database lacks (503); the next change of the rule
publishes that version number again with its own content.

Reads block (call them from a thread); changes are coroutines.

    >>> import asyncio
    >>> from cloud_api.db import Database
    >>> class Published:
    ...     async def publish_rule(self, rule_id, rule):
    ...         print(rule_id, rule.version if rule else "tombstone")
    >>> db = Database("sqlite:///:memory:")
    >>> db.open()
    >>> book = RuleBook(db, Published())
    >>> spec = RuleSpec(name="CH4 high", condition={"type": "limit", "high": 25})
    >>> _ = asyncio.run(book.create("ch4-high", spec, "ada", 1000))
    ch4-high 1
    >>> asyncio.run(book.set_enabled("ch4-high", False, "ada", 2000)).version
    ch4-high 2
    2
    >>> asyncio.run(book.rollback("ch4-high", 1, "ada", 3000)).enabled
    ch4-high 3
    True
    >>> _ = asyncio.run(book.delete("ch4-high", 4000))
    ch4-high tombstone
    >>> book.get("ch4-high") is None, [r.version for r in book.versions("ch4-high", None, 10, None)[0]]
    (True, [3, 2, 1])
    >>> db.close()
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, update

from cloud_api.db import Database, insert_for, rule_versions, rules
from cloud_api.store import StoreError
from parkwatch.errors import FrameError, ParkwatchError
from parkwatch.wire.rules import Rule, RuleSpec, decode_rule

__all__ = [
    "RuleError",
    "RuleNotFound",
    "RuleConflict",
    "RulePublisher",
    "RuleQuery",
    "RuleBook",
]

log = logging.getLogger(__name__)


class RuleError(ParkwatchError):
    """A rule change was refused; nothing was published or recorded."""


class RuleNotFound(RuleError):
    """No such rule (or it was deleted), or no such version (404)."""


class RuleConflict(RuleError):
    """The change does not fit the rule as it is: the id is taken, the rule is already enabled
    (disabled), or another API process changed it at the same time (409)."""


class RulePublisher(Protocol):
    async def publish_rule(self, rule_id: str, rule: Rule | None) -> None: ...


@dataclass(frozen=True, slots=True)
class RuleQuery:
    """Which rules to list (by id); every given filter must match."""

    enabled: bool | None = None
    condition_type: str | None = None
    #: Rules that apply at this site: scoped to it, or to no site.
    site: str | None = None
    #: Only rules a caller with these sites may see (scoped to one of them, or to no site);
    #: ``None``: every rule.
    sites: frozenset[str] | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class _Head:
    """The newest version of a rule id and whether the rule was deleted."""

    rule: Rule
    deleted: bool


class RuleBook:
    """Rules in ``db``, changes published through ``publisher``; see the module docstring."""

    def __init__(self, db: Database, publisher: RulePublisher) -> None:
        self.db = db
        self.publisher = publisher
        self._lock = asyncio.Lock()

    # -- changes -----------------------------------------------------------------

    async def create(self, rule_id: str, spec: RuleSpec, actor: str, now_ms: int) -> Rule:
        async with self._lock:
            head = await asyncio.to_thread(self._head, rule_id)
            if head is not None and not head.deleted:
                raise RuleConflict(f"rule {rule_id!r} exists already (version {head.rule.version})")
            version = head.rule.version + 1 if head is not None else 1
            rule = Rule(**dict(spec), id=rule_id, version=version, updated_ms=now_ms, updated_by=actor)
            return await self._publish_and_record(rule, head)

    async def update(self, rule_id: str, spec: RuleSpec, actor: str, now_ms: int) -> Rule:
        async with self._lock:
            head = await self._live_head(rule_id)
            rule = Rule(
                **dict(spec), id=rule_id, version=head.rule.version + 1, updated_ms=now_ms, updated_by=actor
            )
            return await self._publish_and_record(rule, head)

    async def set_enabled(self, rule_id: str, enabled: bool, actor: str, now_ms: int) -> Rule:
        """A new version with ``enabled`` set; :class:`RuleConflict` if it already is."""
        async with self._lock:
            head = await self._live_head(rule_id)
            if head.rule.enabled == enabled:
                raise RuleConflict(f"rule {rule_id!r} is already {'enabled' if enabled else 'disabled'}")
            return await self._publish_and_record(self._next(head, head.rule, actor, now_ms, enabled), head)

    async def rollback(self, rule_id: str, version: int, actor: str, now_ms: int) -> Rule:
        """Version ``version``'s content published again as the next version."""
        async with self._lock:
            head = await self._live_head(rule_id)
            old = await asyncio.to_thread(self.version, rule_id, version)
            if old is None:
                raise RuleNotFound(f"rule {rule_id!r} has no version {version}")
            return await self._publish_and_record(self._next(head, old, actor, now_ms, old.enabled), head)

    async def delete(self, rule_id: str, now_ms: int) -> Rule:
        """Publish the tombstone and mark the rule deleted; returns the version it ended at."""
        async with self._lock:
            head = await self._live_head(rule_id)
            await self.publisher.publish_rule(rule_id, None)
            try:
                await asyncio.to_thread(self._mark_deleted, head.rule, now_ms)
            except RuleConflict:
                await self._republish(rule_id)
                raise
            return head.rule

    @staticmethod
    def _next(head: _Head, content: Rule, actor: str, now_ms: int, enabled: bool) -> Rule:
        return content.model_copy(
            update={
                "version": head.rule.version + 1,
                "enabled": enabled,
                "updated_ms": now_ms,
                "updated_by": actor,
            }
        )

    async def _live_head(self, rule_id: str) -> _Head:
        head = await asyncio.to_thread(self._head, rule_id)
        if head is None or head.deleted:
            raise RuleNotFound(f"no rule {rule_id!r}")
        return head

    async def _publish_and_record(self, rule: Rule, head: _Head | None) -> Rule:
        await self.publisher.publish_rule(rule.id, rule)
        try:
            await asyncio.to_thread(self._record, rule, head.rule.version if head is not None else None)
        except RuleConflict:
            await self._republish(rule.id)
            raise
        return rule

    async def _republish(self, rule_id: str) -> None:
        """After a lost race: make the topic end with what the database holds."""
        try:
            head = await asyncio.to_thread(self._head, rule_id)
            if head is not None:
                await self.publisher.publish_rule(rule_id, None if head.deleted else head.rule)
        except ParkwatchError as exc:
            log.error("rule %s: republishing the recorded version after a conflict failed: %s", rule_id, exc)

    # -- database ----------------------------------------------------------------

    def _head(self, rule_id: str) -> _Head | None:
        with self.db.read() as conn:
            row = conn.execute(select(rules.c.body, rules.c.deleted_ms).where(rules.c.id == rule_id)).first()
        return _Head(_decode(row.body), row.deleted_ms is not None) if row is not None else None

    def _record(self, rule: Rule, after_version: int | None) -> None:
        """Insert the version and make it the rule's current one (its row was at ``after_version``)."""
        site = rule.scope.site
        body = rule.encode().decode()
        current = {
            "version": rule.version,
            "enabled": int(rule.enabled),
            "condition_type": rule.condition.type,
            "site": site,
            "body": body,
            "deleted_ms": None,
        }
        with self.db.write() as conn:
            added = conn.execute(
                insert_for(conn, rule_versions)
                .values(rule_id=rule.id, version=rule.version, site=site, body=body)
                .on_conflict_do_nothing()
                .returning(rule_versions.c.rule_id)
            ).first()
            if after_version is None:
                stmt = insert_for(conn, rules).values(id=rule.id, **current).on_conflict_do_nothing()
            else:
                stmt = (
                    update(rules)
                    .where(rules.c.id == rule.id, rules.c.version == after_version)
                    .values(**current)
                )
            if added is None or conn.execute(stmt.returning(rules.c.id)).first() is None:
                raise RuleConflict(f"rule {rule.id!r} was changed at the same time; reload and try again")

    def _mark_deleted(self, rule: Rule, now_ms: int) -> None:
        with self.db.write() as conn:
            done = conn.execute(
                update(rules)
                .where(rules.c.id == rule.id, rules.c.version == rule.version, rules.c.deleted_ms.is_(None))
                .values(deleted_ms=now_ms)
                .returning(rules.c.id)
            ).first()
            if done is None:
                raise RuleConflict(f"rule {rule.id!r} was changed at the same time; reload and try again")

    # -- reads -------------------------------------------------------------------

    def get(self, rule_id: str) -> Rule | None:
        """The current version, or ``None`` for an unknown or deleted rule."""
        head = self._head(rule_id)
        return head.rule if head is not None and not head.deleted else None

    def query(self, query: RuleQuery) -> tuple[list[Rule], int]:
        """``(rules ordered by id, total matching)``; deleted rules are left out."""
        c = rules.c
        where: list[Any] = [c.deleted_ms.is_(None), *_visible(c.site, query.sites)]
        if query.enabled is not None:
            where.append(c.enabled == int(query.enabled))
        if query.condition_type is not None:
            where.append(c.condition_type == query.condition_type)
        if query.site is not None:
            where.append(or_(c.site.is_(None), c.site == query.site))
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(rules).where(and_(*where))).scalar()
            rows = conn.execute(
                select(c.body).where(and_(*where)).order_by(c.id).limit(query.limit).offset(query.offset)
            ).all()
        return [_decode(r.body) for r in rows], int(total or 0)

    def versions(
        self, rule_id: str, sites: frozenset[str] | None, limit: int, before: int | None
    ) -> tuple[list[Rule], int, int | None]:
        """``(versions newest first, total, before for the next page or None)``; ``before``: the
        last version of the previous page. Versions scoped outside ``sites`` are left out."""
        c = rule_versions.c
        where: list[Any] = [c.rule_id == rule_id, *_visible(c.site, sites)]
        page = [*where, c.version < before] if before is not None else where
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(rule_versions).where(and_(*where))).scalar()
            rows = conn.execute(
                select(c.body).where(and_(*page)).order_by(c.version.desc()).limit(limit + 1)
            ).all()
        items = [_decode(r.body) for r in rows[:limit]]
        return items, int(total or 0), items[-1].version if len(rows) > limit and items else None

    def version(self, rule_id: str, version: int) -> Rule | None:
        with self.db.read() as conn:
            body = conn.execute(
                select(rule_versions.c.body).where(
                    rule_versions.c.rule_id == rule_id, rule_versions.c.version == version
                )
            ).scalar()
        return _decode(body) if body is not None else None


def _visible(site: Any, sites: frozenset[str] | None) -> list[Any]:
    """Rules scoped to one of ``sites`` or to none (``sites`` ``None``: no restriction)."""
    return [] if sites is None else [or_(site.is_(None), site.in_(sorted(sites)))]


def _decode(body: str) -> Rule:
    try:
        return decode_rule(body.encode())
    except FrameError as exc:  # only this API writes the table
        raise StoreError(f"a stored rule does not decode: {exc}") from exc
