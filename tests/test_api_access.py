"""The API with tokens, against SQLite and PostgreSQL: every endpoint × every role, inspector
isolation, masking of sensitive values, alert handling, maintenance windows, audit, limits.

Each backend gets one in-process app (ASGI) with the session stack's Kafka and
InfluxDB; PostgreSQL is a private server from :mod:`cloud_api.testing` (the
test fails, not skips, when PostgreSQL is not installed). Alerts are seeded
straight into the store under fresh ids, so the shared ``alerts`` topic's other
records do not matter.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import create_engine

from cloud_api import alarm_metrics_api
from cloud_api.app import create_app
from cloud_api.config import ApiSettings
from cloud_api.db import Database, normalise_url
from cloud_api.dependencies import Services, now_ms
from cloud_api.sql_store import SqlAlertStore
from cloud_api.store import AlertQuery
from cloud_api.testing import PostgresUnavailable, new_database
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent, alert_id
from parkwatch.wire.topics import KAFKA_ALERTS
from stream_processor.kafka_topics import ensure_topics
from tests.test_api_alerts import caught_up, ensure_alerts_topic, eventually

pytestmark = [pytest.mark.services, pytest.mark.anyio]

REPO = Path(__file__).resolve().parents[1]
ROLES = ("admin", "commander", "inspector", "viewer")
SECRET_VALUE = 4242.125


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Api:
    client: httpx.AsyncClient
    services: Services
    tokens: dict[str, str]
    north: AlertEvent
    south: AlertEvent
    sensitive: AlertEvent
    #: A rule the endpoint matrix creates, changes and deletes.
    rule_id: str = field(default_factory=lambda: f"matrix-{uuid.uuid4().hex[:10]}")

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    async def call(self, role: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers(role), **kwargs)


def _event(site: str, device: str, point: str, started_ms: int, **changes: Any) -> AlertEvent:
    event = AlertEvent(
        alert_id(site, "gw", device, point, "anomaly_score", started_ms), "open", "anomaly", "anomaly_score",
        "warning", site, "gw", device, point, started_ms, started_ms, 87.5, 0.99, 10.0, 15.0,
        f"{point} = 87.5, expected 10..15",
    )  # fmt: skip
    return replace(event, **changes)


def database_url(backend: str, tmp: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'api.sqlite'}"
    try:
        return new_database(f"api_{uuid.uuid4().hex[:8]}")
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def api(request: pytest.FixtureRequest, stack: Settings, tmp_path_factory: pytest.TempPathFactory
              ) -> AsyncIterator[Api]:  # fmt: skip
    await ensure_alerts_topic(stack)
    await ensure_topics(stack)  # `rules`, as the stream processor creates it
    settings = stack.model_copy(
        update={"api_db_url": database_url(request.param, tmp_path_factory.mktemp("api"))}
    )
    api_settings = ApiSettings(
        auth="tokens", rate_per_s=1000, rate_burst=1000, firmware_configs=REPO / "firmware_configs",
        consumer_group=f"test-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    app = create_app(settings, api_settings)
    services: Services = app.state.services
    async with app.router.lifespan_context(app):
        tokens: dict[str, str] = {}
        for role in ROLES:
            services.accounts.add_user(f"{role}-1", role, ["north"] if role == "inspector" else [], now_ms())
            tokens[role] = services.accounts.create_token(f"{role}-1", now_ms(), None).text
        start = now_ms() - 60_000 - uuid.uuid4().int % 1000
        north = _event("north", "gas-01", "ch4", start)
        south = _event("south", "gas-02", "h2s", start)
        sensitive = _event(
            "north", "flow-01", "total", start, value=SECRET_VALUE, message=f"total = {SECRET_VALUE}"
        )
        services.store.apply([north, south, sensitive], {})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Api(client, services, tokens, north, south, sensitive)


# -- every endpoint × every role × no token ------------------------------------------------------

ALLOWED_ALL = {r: {200} for r in ROLES}
HANDLERS = {"admin": {200, 409}, "commander": {200, 409}, "inspector": {200, 409}, "viewer": {403}}
MANAGERS = {"admin": {201}, "commander": {201}, "inspector": {403}, "viewer": {403}}


def _authors(admin: int, commander: int) -> dict[str, set[int]]:
    """Rule changes: admin and commander (who repeats the admin's change on the same rule)."""
    return {"admin": {admin}, "commander": {commander}, "inspector": {403}, "viewer": {403}}


def _matrix(api: Api) -> list[tuple[str, str, dict[str, Any], dict[str, set[int]]]]:
    a = api.north.id
    later = now_ms() + 3_600_000
    window = {
        "site": "north",
        "device": "nowhere",
        "from_ms": later,
        "until_ms": later + 1000,
        "reason": "test",
    }
    r = f"/api/v1/rules/{api.rule_id}"
    # Scoped to a point that exists nowhere: the session's workers read the same rules topic.
    rule = {
        "name": "matrix",
        "scope": {"site": "north", "point": api.rule_id},
        "condition": {"type": "stale", "after": 60},
    }
    return [
        ("GET", "/api/v1/alerts", {}, ALLOWED_ALL),
        ("GET", f"/api/v1/alerts/{a}", {}, ALLOWED_ALL),
        ("POST", f"/api/v1/alerts/{a}/comment", {"json": {"comment": "looking"}}, HANDLERS),
        ("POST", f"/api/v1/alerts/{a}/assign", {"json": {"assignee": "inspector-1"}}, HANDLERS),
        ("POST", f"/api/v1/alerts/{a}/acknowledge", {"json": {}}, HANDLERS),
        ("POST", f"/api/v1/alerts/{a}/shelve", {"json": {"until_ms": later}}, HANDLERS),
        ("POST", f"/api/v1/alerts/{a}/resolve", {}, HANDLERS),
        ("GET", "/api/v1/maintenance-windows", {}, ALLOWED_ALL),
        ("POST", "/api/v1/maintenance-windows", {"json": window}, MANAGERS),
        (
            "DELETE",
            "/api/v1/maintenance-windows/987654321",
            {},
            {"admin": {404}, "commander": {404}, "inspector": {403}, "viewer": {403}},
        ),
        (
            "GET",
            "/api/v1/audit",
            {},
            {"admin": {200}, "commander": {403}, "inspector": {403}, "viewer": {403}},
        ),
        ("GET", "/api/v1/me", {}, ALLOWED_ALL),
        ("GET", "/api/v1/sites", {}, ALLOWED_ALL),
        ("GET", "/api/v1/points", {"params": {"site": "north"}}, ALLOWED_ALL),
        (
            "GET",
            "/api/v1/points/north/north-gw1/gas-01/ch4/history",
            {"params": {"from_ms": now_ms() - 3_600_000, "to_ms": now_ms()}},
            ALLOWED_ALL,
        ),
        ("POST", "/api/v1/rules", {"json": {"id": api.rule_id, **rule}}, _authors(201, 409)),
        ("GET", "/api/v1/rules", {}, ALLOWED_ALL),
        ("GET", r, {}, ALLOWED_ALL),
        ("PUT", r, {"json": {**rule, "name": "edited"}}, _authors(200, 200)),
        ("POST", f"{r}/disable", {}, _authors(200, 409)),
        ("POST", f"{r}/enable", {}, _authors(200, 409)),
        ("POST", f"{r}/rollback", {"json": {"version": 1}}, _authors(200, 200)),
        ("GET", f"{r}/versions", {}, ALLOWED_ALL),
        ("GET", f"{r}/versions/1", {}, ALLOWED_ALL),
        ("DELETE", r, {}, _authors(204, 404)),
        ("GET", "/api/v1/gateway-events", {}, ALLOWED_ALL),
        ("GET", "/api/v1/gateway-events", {"params": {"kind": "gap", "site": "south"}}, ALLOWED_ALL),
        ("GET", "/api/v1/alarm-metrics", {}, ALLOWED_ALL),
        ("GET", "/api/v1/alarm-metrics", {"params": {"site": "south"}}, ALLOWED_ALL),
    ]


async def test_every_endpoint_with_every_role_and_without_token(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if p != "/healthz"}
    matrix = _matrix(api)
    tried = {
        (
            m,
            p.replace(api.north.id, "{alert_id}")
            .replace("987654321", "{window_id}")
            .replace(api.rule_id, "{rule_id}")
            .replace("/versions/1", "/versions/{version}"),
        )
        for m, p, _, _ in matrix
    }
    tried = {
        (m, "/api/v1/points/{site}/{gateway}/{device}/{point}/history" if "history" in p else p)
        for m, p in tried
    }
    assert documented <= tried, f"endpoints missing from the matrix: {documented - tried}"
    failures = []
    for method, path, kwargs, expected in matrix:
        response = await api.call(None, method, path, **kwargs)
        if response.status_code != 401 or response.headers["content-type"] != "application/problem+json":
            failures.append(f"no token {method} {path}: {response.status_code}")
        bad = await api.client.request(
            method, path, headers={"Authorization": "Bearer pw_nope_nope"}, **kwargs
        )
        if bad.status_code != 401:
            failures.append(f"bad token {method} {path}: {bad.status_code}")
        for role in ROLES:
            response = await api.call(role, method, path, **kwargs)
            if response.status_code not in expected[role]:
                failures.append(f"{role} {method} {path}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
    assert (await api.client.get("/healthz")).status_code == 200


# -- inspector isolation ----------------------------------------------------------------------


async def test_inspector_never_sees_another_site(api: Api) -> None:
    listing = (await api.call("inspector", "GET", "/api/v1/alerts", params={"limit": 500})).json()
    assert listing["items"] and {item["site"] for item in listing["items"]} == {"north"}
    assert (await api.call("inspector", "GET", "/api/v1/alerts", params={"site": "south"})).json()[
        "total"
    ] == 0
    for method, path in [
        ("GET", f"/api/v1/alerts/{api.south.id}"),
        ("POST", f"/api/v1/alerts/{api.south.id}/acknowledge"),
        ("GET", "/api/v1/points/south/south-gw1/gas-01/ch4/history?from_ms=0&to_ms=1000"),
    ]:
        response = await api.call("inspector", method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert "south" not in response.json()["detail"] or "no point" in response.json()["detail"]
    sites = (await api.call("inspector", "GET", "/api/v1/sites")).json()
    assert [s["site"] for s in sites["items"]] == ["north"]
    points = (await api.call("inspector", "GET", "/api/v1/points", params={"site": "south"})).json()
    assert points["total"] == 0
    metrics = (await api.call("inspector", "GET", "/api/v1/alarm-metrics")).json()
    assert [s["site"] for s in metrics["by_site"]] == ["north"]
    south = (await api.call("inspector", "GET", "/api/v1/alarm-metrics", params={"site": "south"})).json()
    assert south["by_site"] == [] and south["active"] == 0
    # The commander sees both.
    both = (await api.call("commander", "GET", "/api/v1/alerts", params={"limit": 500})).json()
    assert {"north", "south"} <= {item["site"] for item in both["items"]}


# -- masking ------------------------------------------------------------------------------------


async def test_sensitive_values_are_masked_for_roles_without_clearance(api: Api) -> None:
    detail_path = f"/api/v1/alerts/{api.sensitive.id}"
    for role in ("inspector", "viewer"):
        for path in (detail_path, "/api/v1/alerts?limit=500", "/api/v1/points?site=north&limit=500"):
            response = await api.call(role, "GET", path)
            assert response.status_code == 200
            assert str(SECRET_VALUE) not in response.text, (role, path)
        detail = (await api.call(role, "GET", detail_path)).json()
        assert detail["masked"] is True and detail["classification"] == "sensitive"
        assert detail["value"] is None and detail["expected_high"] is None
        assert all(h["value"] is None for h in detail["history"])
    before = (await api.call("admin", "GET", "/api/v1/audit", params={"action": "sensitive.read"})).json()[
        "total"
    ]
    detail = (await api.call("commander", "GET", detail_path)).json()
    assert detail["masked"] is False and detail["value"] == SECRET_VALUE
    audit = (await api.call("admin", "GET", "/api/v1/audit", params={"action": "sensitive.read"})).json()
    assert audit["total"] == before + 1
    assert (
        audit["items"][0]["actor"] == "commander-1"
        and audit["items"][0]["target"] == f"alert:{api.sensitive.id}"
    )


# -- alert handling ---------------------------------------------------------------------------------


async def test_acknowledge_shelve_resolve_are_recorded_published_and_audited(api: Api) -> None:
    event = _event("north", "gas-03", "ch4", now_ms() - 5_000)
    api.services.store.apply([event], {})
    path = f"/api/v1/alerts/{event.id}"
    consumer = api.services.consumer
    assert consumer is not None
    await eventually(lambda: _true(consumer.stats.connected), timeout_s=40.0)

    ack = await api.call("inspector", "POST", f"{path}/acknowledge", json={"comment": "on my way"})
    assert ack.status_code == 200, ack.text
    assert ack.json()["state"] == "acknowledged"
    again = await api.call("commander", "POST", f"{path}/acknowledge")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    past = await api.call("commander", "POST", f"{path}/shelve", json={"until_ms": now_ms() - 1})
    assert past.status_code == 422
    shelved = await api.call("commander", "POST", f"{path}/shelve", json={"until_ms": now_ms() + 60_000})
    assert shelved.json()["state"] == "shelved" and shelved.json()["shelved_until_ms"] is not None
    await api.call("commander", "POST", f"{path}/assign", json={"assignee": "inspector-1"})
    resolved = (
        await api.call("admin", "POST", f"{path}/resolve", json={"comment": "sensor replaced"})
    ).json()

    assert resolved["state"] == "resolved" and resolved["assignee"] == "inspector-1"
    assert [h["state"] for h in resolved["history"]] == ["open", "acknowledged", "shelved", "resolved"]
    assert [(a["action"], a["actor"]) for a in resolved["actions"]] == [
        ("acknowledge", "inspector-1"),
        ("shelve", "commander-1"),
        ("assign", "commander-1"),
        ("resolve", "admin-1"),
    ]
    assert resolved["actions"][0]["comment"] == "on my way"
    # Every state change went to Kafka; once the API's consumer has read them back the alert
    # is as the operators left it. (Whether the consumer or the request applies an event first
    # is a race: each is published before it is recorded.)
    bootstrap = api.services.settings.kafka_bootstrap
    values = await published(bootstrap, KAFKA_ALERTS, event.id)
    assert [AlertEvent.decode(v).state for v in values] == ["acknowledged", "shelved", "resolved"]
    await caught_up(bootstrap, api.services.store.positions)
    after = (await api.call("viewer", "GET", path)).json()
    assert after["state"] == "resolved" and len(after["history"]) == 4
    audit = (await api.call("admin", "GET", "/api/v1/audit", params={"actor": "inspector-1"})).json()
    assert any(
        e["action"] == "alert.acknowledge" and e["target"] == f"alert:{event.id}" for e in audit["items"]
    )


async def _true(value: bool) -> bool:
    return value


async def published(bootstrap: str, topic: str, key: str) -> list[bytes | None]:
    """Values of every record of ``topic`` with ``key``, oldest first (the topic read to its end)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        values: list[bytes | None] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                values += [r.value for r in records if r.key == key.encode()]
        return values
    finally:
        await consumer.stop()


async def test_handling_carries_group_and_escalation_and_an_escalation_keeps_the_acknowledgement(
    api: Api,
) -> None:
    flood = _event("north", "", "", now_ms() - 9_000, kind="flood", rule="flood")
    event = _event("north", "gas-04", "ch4", now_ms() - 8_000, group=flood.id, escalation=1)
    api.services.store.apply([flood, event], {})
    path = f"/api/v1/alerts/{event.id}"
    acked = (await api.call("inspector", "POST", f"{path}/acknowledge", json={"comment": "seen"})).json()
    assert (acked["state"], acked["group"], acked["escalation"]) == ("acknowledged", flood.id, 1)
    # The stream processor escalates again: it had not seen the acknowledgement yet.
    escalated = replace(event, updated_ms=acked["updated_ms"] + 1, escalation=2, severity="critical")
    api.services.store.apply([escalated], {})
    detail = (await api.call("viewer", "GET", path)).json()
    assert (detail["state"], detail["escalation"], detail["severity"]) == ("acknowledged", 2, "critical")
    resolved = (await api.call("commander", "POST", f"{path}/resolve")).json()
    assert (resolved["state"], resolved["group"], resolved["escalation"]) == ("resolved", flood.id, 2)
    # What went to Kafka carries the stored group and escalation.
    values = await published(api.services.settings.kafka_bootstrap, KAFKA_ALERTS, event.id)
    events = [AlertEvent.decode(v) for v in values]
    assert [(e.state, e.group, e.escalation) for e in events] == [
        ("acknowledged", flood.id, 1),
        ("resolved", flood.id, 2),
    ]


async def test_acknowledging_a_flood_incident_acknowledges_its_open_members(api: Api) -> None:
    # A site of its own: the acknowledgements go to the session's shared alerts topic, where a
    # later worker's alert manager adopts the incident for its site (and would group that
    # site's next alerts into it).
    site = f"f{now_ms() % 10**9}"
    started = now_ms() - 20_000
    flood = _event(site, "", "", started, kind="flood", rule="flood")
    members = [_event(site, f"gas-{i:02d}", "ch4", started + i, group=flood.id) for i in range(12)]
    members[0] = replace(members[0], state="acknowledged")  # seen before the incident was
    members[1] = replace(members[1], state="resolved")
    outsider = _event(site, "gas-99", "ch4", started + 50)  # not in the incident
    api.services.store.apply([flood, *members, outsider], {})

    acked = await api.call(
        "commander", "POST", f"/api/v1/alerts/{flood.id}/acknowledge", json={"comment": "burst"}
    )
    assert acked.status_code == 200, acked.text
    states = {m.id: (await api.call("viewer", "GET", f"/api/v1/alerts/{m.id}")).json() for m in members}
    assert [states[m.id]["state"] for m in members] == ["acknowledged", "resolved"] + ["acknowledged"] * 10
    member = states[members[5].id]["actions"][-1]
    assert (member["action"], member["actor"]) == ("acknowledge", "commander-1")
    assert member["comment"] == f"with flood incident {flood.id}: burst"
    assert (await api.call("viewer", "GET", f"/api/v1/alerts/{outsider.id}")).json()["state"] == "open"
    # Each member's acknowledgement went to Kafka; the audit names the count.
    values = await published(api.services.settings.kafka_bootstrap, KAFKA_ALERTS, members[5].id)
    assert [AlertEvent.decode(v).state for v in values] == ["acknowledged"]
    audit = (await api.call("admin", "GET", "/api/v1/audit", params={"actor": "commander-1"})).json()
    assert any(e["target"] == f"alert:{flood.id}" and e["detail"]["members"] == 10 for e in audit["items"])


async def test_alarm_metrics_count_activations_floods_and_chattering(api: Api) -> None:
    site = f"m{now_ms() % 10**9}"  # its own site: the module's other tests add alerts elsewhere
    start = now_ms() - 3_600_000
    chatter = _event(site, "gas-01", "ch4", start)
    steps = [(start + 60_000, "resolved"), (start + 120_000, "open"), (start + 180_000, "resolved"),
             (start + 240_000, "open")]  # fmt: skip
    api.services.store.apply([chatter, *(replace(chatter, state=s, updated_ms=t) for t, s in steps)], {})
    # The figures' 10-minute periods end at the request's now: the burst sits half a period
    # away from their edges (at a whole number of periods before now, a request answered
    # within 12 ms split it in two).
    burst = [_event(site, f"gas-{i:02d}", "ch4", start + 1_500_000 + i) for i in range(10, 22)]
    api.services.store.apply(burst, {})

    m = (await api.call("commander", "GET", "/api/v1/alarm-metrics", params={"site": site})).json()
    assert m["activations"] == 15 and m["per_10min_peak"] >= 12 and m["flood_periods"] == 1
    assert [(c["id"], c["activations"]) for c in m["chattering"]] == [(chatter.id, 3)]
    assert m["bad_actors"][0]["device"] == "gas-01" and m["active"] == 13 == m["unacknowledged"]
    assert m["by_site"] == [
        {"site": site, "activations": 15, "active": 13, "unacknowledged": 13, "standing": 0}
    ]
    assert len(m["periods"]) == 144 and m["until_ms"] - m["since_ms"] == 86_400_000
    for params in ({"since_ms": 10, "until_ms": 5}, {"since_ms": 0, "until_ms": 32 * 86_400_000}):
        bad = await api.call("commander", "GET", "/api/v1/alarm-metrics", params=params)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_the_default_alarm_figures_are_computed_once_for_the_walls_of_a_scope(api: Api) -> None:
    site = f"w{now_ms() % 10**9}"
    shared = api.services.alarm_figures
    clock = shared.clock
    frozen = clock()
    shared.clock = lambda: frozen  # within the time they serve, however slow this machine is
    try:
        first = (await api.call("commander", "GET", "/api/v1/alarm-metrics", params={"site": site})).json()
        api.services.store.apply([_event(site, "gas-01", "ch4", now_ms() - 1_000)], {})
        again = (await api.call("admin", "GET", "/api/v1/alarm-metrics", params={"site": site})).json()
        assert again == first and first["activations"] == 0
        # A range of its own is computed for the request.
        own = {"site": site, "since_ms": first["since_ms"]}
        mine = (await api.call("admin", "GET", "/api/v1/alarm-metrics", params=own)).json()
        assert mine["activations"] == 1
        shared.clock = lambda: frozen + alarm_metrics_api.SHARED_S
        fresh = (await api.call("commander", "GET", "/api/v1/alarm-metrics", params={"site": site})).json()
        assert fresh["activations"] == 1 and fresh["until_ms"] > first["until_ms"]
    finally:
        shared.clock = clock


async def test_maintenance_window_suppresses_active_and_new_alerts(api: Api) -> None:
    now = now_ms()
    device = f"pt-{uuid.uuid4().hex[:6]}"
    active = _event("north", device, "pressure", now - 10_000)
    api.services.store.apply([active], {})
    body = {
        "site": "north",
        "device": device,
        "from_ms": now - 60_000,
        "until_ms": now + 600_000,
        "reason": "calib",
    }
    created = await api.call("commander", "POST", "/api/v1/maintenance-windows", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["suppressed"] == 1
    assert (await api.call("viewer", "GET", f"/api/v1/alerts/{active.id}")).json()["state"] == "suppressed"
    new = _event("north", device, "temperature", now)
    api.services.store.apply([new], {})
    assert (await api.call("viewer", "GET", f"/api/v1/alerts/{new.id}")).json()["state"] == "suppressed"
    elsewhere = _event("north", "gas-01", "h2s", now)
    api.services.store.apply([elsewhere], {})
    assert (await api.call("viewer", "GET", f"/api/v1/alerts/{elsewhere.id}")).json()["state"] == "open"
    window_id = created.json()["id"]
    assert (await api.call("admin", "DELETE", f"/api/v1/maintenance-windows/{window_id}")).status_code == 204


async def test_pagination_of_audit_and_windows(api: Api) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(3):
        page = (await api.call("admin", "GET", "/api/v1/audit", params=params)).json()
        seen += [e["seq"] for e in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen) >= 2
    bad = await api.call("admin", "GET", "/api/v1/audit", params={"cursor": "garbage"})
    assert bad.status_code == 422


async def test_registry_lists_configured_points_with_classification(api: Api) -> None:
    points = (
        await api.call("viewer", "GET", "/api/v1/points", params={"site": "north", "limit": 500})
    ).json()
    by_key = {(p["device"], p["point"]): p for p in points["items"]}
    assert (
        by_key[("gas-01", "ch4")]["unit"] == "%LEL"
        and by_key[("gas-01", "ch4")]["classification"] == "internal"
    )
    assert by_key[("flow-01", next(p for d, p in by_key if d == "flow-01"))]["classification"] == "sensitive"
    history = await api.call(
        "viewer", "GET", "/api/v1/points/north/north-gw1/gas-01/ch4/history",
        params={"from_ms": 0, "to_ms": 86_400_000 * 10},
    )  # fmt: skip
    assert history.status_code == 200 and history.json()["interval_ms"] * 500 >= 86_400_000 * 10


async def test_revoked_token_is_refused(api: Api) -> None:
    token = api.services.accounts.create_token("viewer-1", now_ms(), None)
    headers = {"Authorization": f"Bearer {token.text}"}
    assert (await api.client.get("/api/v1/me", headers=headers)).json()["name"] == "viewer-1"
    api.services.accounts.revoke_token(token.token_id, now_ms())
    assert (await api.client.get("/api/v1/me", headers=headers)).status_code == 401


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_of_an_older_version_gains_the_new_columns(backend: str, tmp_path: Path) -> None:
    db = Database(normalise_url(database_url(backend, tmp_path), tmp_path))
    engine = create_engine(db.url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE alerts (id VARCHAR(128) PRIMARY KEY, state VARCHAR(32) NOT NULL, "
            "kind TEXT NOT NULL, rule TEXT NOT NULL, severity VARCHAR(32) NOT NULL, "
            "site VARCHAR(64) NOT NULL, "
            "gateway VARCHAR(64) NOT NULL, device VARCHAR(64) NOT NULL, point VARCHAR(64) NOT NULL, "
            "started_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL, value FLOAT, score FLOAT, "
            "expected_low FLOAT, expected_high FLOAT, message TEXT NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO alerts VALUES ('old', 'open', 'anomaly', 'r', 'info', 'north', 'gw', 'd', 'p', "
            "1, 1, NULL, NULL, NULL, NULL, 'from before')"
        )
    engine.dispose()
    store = SqlAlertStore(db)
    for _ in range(2):  # the second opening finds nothing to add
        store.open()
        found = store.get("old")
        assert found is not None and (found.alert.group, found.alert.escalation) == (None, 0)
        new = _event("north", "gas-01", "ch4", 5, group="flood-1", escalation=3)
        store.apply([new], {})
        assert [a.escalation for a in store.query(AlertQuery(group="flood-1")).items] == [3]
        store.close()


# -- limits (no database needed: the middleware answers first) -----------------------------------


async def test_rate_limit_and_body_size() -> None:
    app = create_app(
        Settings(api_db_url="sqlite:///:memory:"),
        ApiSettings(rate_per_s=0.01, rate_burst=3, max_body_bytes=100, firmware_configs=Path("/nonexistent")),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        big = await client.post(
            "/api/v1/alerts/x/comment", content=b"x" * 101, headers={"Authorization": "Bearer a"}
        )
        assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"
        statuses = [
            (await client.get("/openapi.json", headers={"Authorization": "Bearer b"})).status_code
            for _ in range(5)
        ]
        assert statuses[3:] == [429, 429]
        limited = await client.get("/openapi.json", headers={"Authorization": "Bearer b"})
        assert limited.json()["status"] == 429 and int(limited.headers["retry-after"]) >= 1
        # Another token has its own bucket.
        assert (await client.get("/openapi.json", headers={"Authorization": "Bearer c"})).status_code == 200
    await asyncio.sleep(0)
