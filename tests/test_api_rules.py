"""``/api/v1/rules`` against SQLite and PostgreSQL, publishing to the session's real Kafka ``rules`` topic.

Create, edit, disable, enable, roll back and delete; every version kept and
readable; what reached the topic read back with aiokafka and
:func:`~parkwatch.wire.rules.decode_rule` (a deletion is a tombstone); bad
rules refused with a 422 naming the field; readers limited to their sites;
Kafka down means 503 and nothing recorded. (Every endpoint × every role is in
``test_api_access.py``.)

The topic is shared with the whole session, whose workers read it: every
rule here is scoped to a site or a point that exists nowhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cloud_api.app import create_app
from cloud_api.config import ApiSettings
from cloud_api.dependencies import Services, now_ms
from cloud_api.publisher import KafkaPublisher
from parkwatch.settings import Settings
from parkwatch.testing import free_port
from parkwatch.wire.rules import KAFKA_RULES, Rule, decode_rule
from stream_processor.kafka_topics import ensure_topics
from tests.test_api_access import database_url, published

pytestmark = [pytest.mark.services, pytest.mark.anyio]

SITE = f"rs{uuid.uuid4().hex[:8]}"
OTHER_SITE = f"ro{uuid.uuid4().hex[:8]}"
USERS = {
    "admin": ("admin", []),
    "commander": ("commander", []),
    "inspector": ("inspector", [SITE]),
    "viewer": ("viewer", []),
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Api:
    client: httpx.AsyncClient
    services: Services
    settings: Settings
    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def call(self, role: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers(role), **kwargs)

    async def ok(self, role: str, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(role, method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def api(request: pytest.FixtureRequest, stack: Settings, tmp_path_factory: pytest.TempPathFactory
              ) -> AsyncIterator[Api]:  # fmt: skip
    await ensure_topics(stack)  # as the stream processor does: `rules` compacted, one partition
    settings = stack.model_copy(
        update={"api_db_url": database_url(request.param, tmp_path_factory.mktemp("rules-api"))}
    )
    app = create_app(
        settings,
        ApiSettings(rate_per_s=1000, rate_burst=1000, consumer_group=f"test-{uuid.uuid4().hex[:8]}"),
    )
    services: Services = app.state.services
    async with app.router.lifespan_context(app):
        tokens = {}
        for role, (user_role, sites) in USERS.items():
            services.accounts.add_user(f"{role}-1", user_role, sites, now_ms())
            tokens[role] = services.accounts.create_token(f"{role}-1", now_ms(), None).text
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Api(client, services, settings, tokens)


def new_id() -> str:
    return f"r-{uuid.uuid4().hex[:12]}"


def spec(site: str | None = SITE, **changes: Any) -> dict[str, Any]:
    """A limit rule on ``site``; with ``site=None`` scoped to a point that exists nowhere."""
    scope = {"site": site, "point": "ch4"} if site else {"point": f"nowhere-{uuid.uuid4().hex[:6]}"}
    body = {
        "name": "CH4 high",
        "severity": "critical",
        "scope": scope,
        "condition": {"type": "limit", "high": 25.0, "hysteresis": 2.0, "delay": "5s"},
    }
    return {**body, **changes}


async def test_a_rule_through_its_life_is_versioned_published_and_audited(api: Api) -> None:
    rule_id = new_id()
    path = f"/api/v1/rules/{rule_id}"
    created = await api.ok("commander", "POST", "/api/v1/rules", 201, json={"id": rule_id, **spec()})
    assert (created["version"], created["updated_by"], created["enabled"]) == (1, "commander-1", True)
    assert created["condition"]["delay"] == 5.0 and created["scope"]["site"] == SITE
    assert (
        await api.call("admin", "POST", "/api/v1/rules", json={"id": rule_id, **spec()})
    ).status_code == 409
    assert await api.ok("viewer", "GET", path) == created

    edited_spec = spec(condition={"type": "limit", "high": 30.0, "low": 5.0, "predict": "10m"})
    edited = await api.ok("admin", "PUT", path, json=edited_spec)
    assert (edited["version"], edited["updated_by"], edited["condition"]["predict"]) == (2, "admin-1", 600.0)
    disabled = await api.ok("commander", "POST", f"{path}/disable")
    assert (disabled["version"], disabled["enabled"]) == (3, False)
    again = await api.call("commander", "POST", f"{path}/disable")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    enabled = await api.ok("admin", "POST", f"{path}/enable")
    assert (enabled["version"], enabled["enabled"]) == (4, True)

    # Versions, newest first and paged; each one readable on its own.
    first_page = await api.ok("viewer", "GET", f"{path}/versions", params={"limit": 3})
    assert [v["version"] for v in first_page["items"]] == [4, 3, 2] and first_page["total"] == 4
    rest = await api.ok("viewer", "GET", f"{path}/versions", params={"cursor": first_page["next_cursor"]})
    assert [v["version"] for v in rest["items"]] == [1] and rest["next_cursor"] is None
    assert await api.ok("inspector", "GET", f"{path}/versions/1") == created

    # A rollback publishes version 1's content as version 5; history is not rewritten.
    rolled = await api.ok("admin", "POST", f"{path}/rollback", json={"version": 1})
    assert rolled["version"] == 5 and rolled["updated_by"] == "admin-1"
    assert {k: v for k, v in rolled.items() if k not in ("version", "updated_ms", "updated_by")} == {
        k: v for k, v in created.items() if k not in ("version", "updated_ms", "updated_by")
    }
    assert (await api.call("admin", "POST", f"{path}/rollback", json={"version": 9})).status_code == 404
    assert await api.ok("viewer", "GET", f"{path}/versions/2") == edited

    # Delete: a tombstone; the rule is gone, its versions stay.
    assert (await api.call("commander", "DELETE", path)).status_code == 204
    for method, suffix, body in (("GET", "", None), ("PUT", "", spec()), ("POST", "/enable", None),
                                 ("DELETE", "", None)):  # fmt: skip
        response = await api.call("admin", method, path + suffix, json=body)
        assert response.status_code == 404, (method, suffix, response.text)
    assert (await api.ok("viewer", "GET", f"{path}/versions"))["total"] == 5
    listed = await api.ok("admin", "GET", "/api/v1/rules", params={"site": SITE, "limit": 500})
    assert rule_id not in {r["id"] for r in listed["items"]}

    # What the workers read: every version as the API answered it, then the tombstone.
    values = await published(api.settings.kafka_bootstrap, KAFKA_RULES, rule_id)
    assert values[-1] is None and None not in values[:-1]
    answered = [created, edited, disabled, enabled, rolled]
    assert [decode_rule(v) for v in values[:-1] if v is not None] == [
        Rule.model_validate(r) for r in answered
    ]

    # The id can be used again; its numbering goes on.
    recreated = await api.ok(
        "admin", "POST", "/api/v1/rules", 201, json={"id": rule_id, **spec(name="again")}
    )
    assert recreated["version"] == 6

    audit = await api.ok("admin", "GET", "/api/v1/audit", params={"limit": 500})
    mine = [
        (e["action"], e["actor"], e["detail"]["version"])
        for e in audit["items"]
        if e["target"] == f"rule:{rule_id}"
    ]
    assert mine[::-1] == [
        ("rule.create", "commander-1", 1),
        ("rule.update", "admin-1", 2),
        ("rule.disable", "commander-1", 3),
        ("rule.enable", "admin-1", 4),
        ("rule.rollback", "admin-1", 5),
        ("rule.delete", "commander-1", 5),
        ("rule.create", "admin-1", 6),
    ]


async def test_list_filters_and_pages(api: Api) -> None:
    site = f"rf{uuid.uuid4().hex[:8]}"
    stale = {"type": "stale", "after": "2m"}
    rules = {
        "limit": spec(site),
        "stale": spec(site, condition=stale, enabled=False),
        "score": spec(None, condition={"type": "score", "above": 0.99, "for": "30s"}),
        "elsewhere": spec(f"rx{uuid.uuid4().hex[:8]}", condition={"type": "rate", "max_rise_per_min": 5}),
    }
    ids = {name: new_id() for name in rules}
    for name, body in rules.items():
        await api.ok("admin", "POST", "/api/v1/rules", 201, json={"id": ids[name], **body})

    async def listed(**params: Any) -> set[str]:
        body = await api.ok("viewer", "GET", "/api/v1/rules", params={"limit": 500, **params})
        return {r["id"] for r in body["items"]} & set(ids.values())

    assert await listed(site=site) == {ids["limit"], ids["stale"], ids["score"]}
    assert await listed(site=site, enabled=False) == {ids["stale"]}
    assert await listed(site=site, condition="limit") == {ids["limit"]}
    assert await listed(condition="score") == {ids["score"]}
    score = await api.ok("viewer", "GET", f"/api/v1/rules/{ids['score']}")
    assert score["condition"] == {"type": "score", "above": 0.99, "for": 30.0}

    everything = await api.ok("viewer", "GET", "/api/v1/rules", params={"limit": 500})
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await api.ok("viewer", "GET", "/api/v1/rules", params=params)
        assert page["total"] == everything["total"]
        seen += [r["id"] for r in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted(seen) == [r["id"] for r in everything["items"]]
    bad = await api.call("viewer", "GET", "/api/v1/rules", params={"condition": "vibes"})
    assert bad.status_code == 422


async def test_readers_see_the_rules_of_their_sites_and_no_one_but_managers_changes_them(api: Api) -> None:
    mine, theirs, everywhere = new_id(), new_id(), new_id()
    for rule_id, body in ((mine, spec(SITE)), (theirs, spec(OTHER_SITE)), (everywhere, spec(None))):
        await api.ok("admin", "POST", "/api/v1/rules", 201, json={"id": rule_id, **body})
    listing = await api.ok("inspector", "GET", "/api/v1/rules", params={"limit": 500})
    seen = {r["id"] for r in listing["items"]}
    assert {mine, everywhere} <= seen and theirs not in seen
    assert all(r["scope"]["site"] in (SITE, None) for r in listing["items"])
    for path in (theirs, f"{theirs}/versions", f"{theirs}/versions/1"):
        response = await api.call("inspector", "GET", f"/api/v1/rules/{path}")
        assert response.status_code == 404, path
    assert (await api.ok("viewer", "GET", f"/api/v1/rules/{theirs}"))["id"] == theirs
    for role in ("inspector", "viewer"):
        for method, suffix, change in (("PUT", "", spec()), ("POST", "/disable", None), ("DELETE", "", None)):
            response = await api.call(role, method, f"/api/v1/rules/{mine}{suffix}", json=change)
            assert response.status_code == 403, (role, method, suffix)
        created = await api.call(role, "POST", "/api/v1/rules", json={"id": new_id(), **spec()})
        assert created.status_code == 403
    assert (await api.client.get("/api/v1/rules")).status_code == 401


LIMIT = {"type": "limit", "high": 25.0}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            {"condition": {"type": "limit", "low": 30, "high": 25}},
            "condition",
            "low (30.0) must be below high",
        ),
        ({"condition": {"type": "flood", "above": 3}}, "condition", "'flood'"),
        ({"id": "Bad Id!"}, "id", "pattern"),
        (
            {"condition": {**LIMIT, "low": 0, "hysteresis": 20}},
            "condition",
            "hysteresis must be less than half",
        ),
        ({"condition": {**LIMIT, "delay": "5 fortnights"}}, "delay", ""),
        ({"condition": {"type": "stale"}}, "after", "Field required"),
        ({"name": ""}, "name", "at least 1 character"),
        ({"severity": "apocalyptic"}, "severity", ""),
        ({"scope": {"site": "north", "colour": "red"}}, "colour", "Extra inputs are not permitted"),
        ({"version": 3}, "version", "Extra inputs are not permitted"),
    ],
)
async def test_bad_rules_are_refused_with_a_422_naming_the_field(
    api: Api, change: dict[str, Any], field: str, words: str
) -> None:
    rule_id = new_id()
    body = {"id": rule_id, **spec(), **change}
    response = await api.call("admin", "POST", "/api/v1/rules", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in problem["detail"] and words in problem["detail"], problem["detail"]
    assert any(field in map(str, e["loc"]) for e in problem["errors"])
    assert (await api.call("admin", "GET", f"/api/v1/rules/{change.get('id', rule_id)}")).status_code in (
        404,
        422,
    )
    if "id" not in change and "version" not in change:  # the same spec refused for an edit
        existing = new_id()
        await api.ok("admin", "POST", "/api/v1/rules", 201, json={"id": existing, **spec()})
        edit = await api.call("admin", "PUT", f"/api/v1/rules/{existing}", json={**spec(), **change})
        assert edit.status_code == 422 and field in edit.json()["detail"]
        assert (await api.ok("admin", "GET", f"/api/v1/rules/{existing}"))["version"] == 1


async def test_with_kafka_down_changes_are_refused_with_503_and_nothing_is_recorded(api: Api) -> None:
    existing = new_id()
    await api.ok("admin", "POST", "/api/v1/rules", 201, json={"id": existing, **spec()})
    # A second API on the same database whose Kafka is a closed port.
    down = create_app(api.settings, ApiSettings(), publisher=KafkaPublisher(f"127.0.0.1:{free_port()}", 3.0))
    services: Services = down.state.services
    services.store.open()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=down), base_url="http://down"
        ) as client:
            new = new_id()
            attempts = [
                ("POST", "/api/v1/rules", {"id": new, **spec()}),
                ("PUT", f"/api/v1/rules/{existing}", spec(name="changed")),
                ("POST", f"/api/v1/rules/{existing}/disable", None),
                ("POST", f"/api/v1/rules/{existing}/rollback", {"version": 1}),
                ("DELETE", f"/api/v1/rules/{existing}", None),
            ]
            for method, path, body in attempts:
                response = await client.request(method, path, json=body, headers=api.headers("admin"))
                assert response.status_code == 503, (method, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert "Kafka" in response.json()["detail"]
    finally:
        await services.publisher.close()
        services.store.close()
    assert (await api.call("admin", "GET", f"/api/v1/rules/{new}")).status_code == 404
    current = await api.ok("admin", "GET", f"/api/v1/rules/{existing}")
    assert (current["version"], current["name"], current["enabled"]) == (1, "CH4 high", True)
    assert (await api.ok("admin", "GET", f"/api/v1/rules/{existing}/versions"))["total"] == 1
    audit = await api.ok("admin", "GET", "/api/v1/audit", params={"limit": 500})
    assert not [e for e in audit["items"] if e["target"] in (f"rule:{new}",) or
                (e["target"] == f"rule:{existing}" and e["action"] != "rule.create")]  # fmt: skip
