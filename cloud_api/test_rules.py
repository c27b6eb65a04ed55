"""The rule book's contract on SQLite with a recording publisher: publish first, then record; a refused
publish records nothing; two API processes racing on one rule end with the topic equal to the database.

The same against the real Kafka topic and PostgreSQL is in ``tests/test_api_rules.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from cloud_api.db import Database
from cloud_api.publisher import PublishError
from cloud_api.rules import RuleBook, RuleConflict, RuleNotFound
from parkwatch.wire.rules import Rule, RuleSpec

SPEC = RuleSpec.model_validate({"name": "CH4 high", "condition": {"type": "limit", "high": 25}})


class Recorder:
    """Keeps what was published (rule id, version or None for a tombstone); can refuse, or pause."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None]] = []
        self.refuse = False
        #: Awaited by each publish before it completes (a test orders racing publishes with it).
        self.before: Callable[[Rule | None], Awaitable[None]] | None = None

    async def publish_rule(self, rule_id: str, rule: Rule | None) -> None:
        if self.before is not None:
            await self.before(rule)
        if self.refuse:
            raise PublishError("Kafka is down")
        self.sent.append((rule_id, rule.version if rule is not None else None))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'api.sqlite'}")
    database.open()
    yield database
    database.close()


def test_a_refused_publish_records_nothing(db: Database) -> None:
    kafka = Recorder()
    book = RuleBook(db, kafka)
    asyncio.run(book.create("r1", SPEC, "ada", 1))
    kafka.refuse = True
    for change in (
        book.create("r2", SPEC, "ada", 2),
        book.update("r1", SPEC, "ada", 2),
        book.set_enabled("r1", False, "ada", 2),
        book.rollback("r1", 1, "ada", 2),
        book.delete("r1", 2),
    ):
        with pytest.raises(PublishError):
            asyncio.run(change)
    assert book.get("r2") is None
    current = book.get("r1")
    assert current is not None and (current.version, current.enabled) == (1, True)
    assert book.versions("r1", None, 10, None)[1] == 1
    assert kafka.sent == [("r1", 1)]


def test_refusals_name_the_reason(db: Database) -> None:
    book = RuleBook(db, Recorder())
    asyncio.run(book.create("r1", SPEC, "ada", 1))
    with pytest.raises(RuleConflict, match="exists already"):
        asyncio.run(book.create("r1", SPEC, "ada", 2))
    with pytest.raises(RuleConflict, match="already enabled"):
        asyncio.run(book.set_enabled("r1", True, "ada", 2))
    with pytest.raises(RuleNotFound, match="no version 7"):
        asyncio.run(book.rollback("r1", 7, "ada", 2))
    asyncio.run(book.delete("r1", 3))
    with pytest.raises(RuleNotFound):
        asyncio.run(book.update("r1", SPEC, "ada", 4))


def test_two_processes_racing_on_a_rule_leave_the_topic_ending_with_what_was_recorded(db: Database) -> None:
    kafka = Recorder()
    first, second = RuleBook(db, kafka), RuleBook(db, kafka)  # each API process has its own lock
    asyncio.run(first.create("r1", SPEC, "ada", 1))

    async def race() -> tuple[Rule | BaseException, Rule | BaseException]:
        # Both read version 1 before either records version 2: the first's publish ends only
        # once the second's has begun, and the second's only once the first has recorded. So
        # the first wins, whichever thread the machine's load lets run first.
        second_publishing = asyncio.Event()

        async def order(rule: Rule | None) -> None:
            assert rule is not None
            if rule.name == "edited":
                await second_publishing.wait()
                return
            second_publishing.set()
            for _ in range(1000):  # at most ~10 s, should the first never record
                current = await asyncio.to_thread(first.get, "r1")
                if current is not None and current.version >= 2:
                    return
                await asyncio.sleep(0.01)

        kafka.before = order
        edited = SPEC.model_copy(update={"name": "edited"})
        return await asyncio.gather(
            first.update("r1", edited, "ada", 2),
            second.set_enabled("r1", False, "bob", 2),
            return_exceptions=True,
        )

    won, lost = asyncio.run(race())
    assert isinstance(won, Rule) and won.name == "edited" and won.version == 2
    assert isinstance(lost, RuleConflict)
    # Both published a version 2; the loser published the recorded one again after it.
    assert kafka.sent == [("r1", 1), ("r1", 2), ("r1", 2), ("r1", 2)]
    assert first.get("r1") == won and [r.version for r in first.versions("r1", None, 10, None)[0]] == [2, 1]
