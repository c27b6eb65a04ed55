"""The rule book's contract on SQLite with a recording publisher: publish first, then record; a refused
publish records nothing; two API processes racing on one rule end with the topic equal to the database.

The same against the real Kafka topic and PostgreSQL is in ``tests/test_api_rules.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
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
        #: How long each publish takes, in call order (then no pause).
        self.pauses: list[float] = []

    async def publish_rule(self, rule_id: str, rule: Rule | None) -> None:
        await asyncio.sleep(self.pauses.pop(0) if self.pauses else 0.0)
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
    # Both read version 1 before either records version 2; the first publish ends first, so
    # which process wins does not depend on the machine's load.
    kafka.pauses = [0.05, 0.2]

    async def race() -> tuple[Rule | BaseException, Rule | BaseException]:
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
