"""The cloud API in-process (ASGI) against the real Kafka broker of the session stack.

One app (and so one consumer group member and one SQLite file) serves every
test in this module; each test uses its own site and alert ids, because the
``alerts`` topic is shared by the whole session and the app replays it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cloud_api.app import create_app
from cloud_api.config import ApiSettings
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent, alert_id
from parkwatch.wire.topics import KAFKA_ALERTS

pytestmark = [pytest.mark.services, pytest.mark.anyio]

T0 = 1_764_189_600_000


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Harness:
    client: httpx.AsyncClient
    producer: AIOKafkaProducer

    async def send(self, *events: AlertEvent) -> None:
        for event in events:
            await self.producer.send_and_wait(KAFKA_ALERTS, event.encode(), key=event.id.encode())

    async def send_raw(self, key: str, value: bytes | None) -> None:
        await self.producer.send_and_wait(KAFKA_ALERTS, value, key=key.encode())

    async def alerts(self, **params: Any) -> dict[str, Any]:
        response = await self.client.get("/api/v1/alerts", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def health(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.client.get("/healthz")).json()
        return body


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Poll ``check`` until it is true; fail after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not true within {timeout_s} s")
        await asyncio.sleep(0.1)


async def caught_up(bootstrap: str, positions: Callable[[str], dict[int, int]], topic: str = KAFKA_ALERTS,
                    timeout_s: float = 60.0) -> None:  # fmt: skip
    """Wait until a projection's stored ``positions`` reach the end ``topic`` has now.

    An app with a new database replays the session's shared topic first; being
    ``connected`` says only that its partitions are assigned.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = {tp.partition: end for tp, end in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()

    async def reached() -> bool:
        stored = positions(topic)
        return all(stored.get(partition, 0) >= end for partition, end in ends.items())

    await eventually(reached, timeout_s)


async def ensure_alerts_topic(settings: Settings) -> None:
    """Create ``alerts`` with one partition, as the stream processor does, unless it exists.

    The API waits for the topic rather than auto-creating it.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if KAFKA_ALERTS not in await admin.list_topics():
            await admin.create_topics([NewTopic(KAFKA_ALERTS, 1, replication_factor=1)])
        assert KAFKA_ALERTS in await admin.list_topics()
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def api(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    await ensure_alerts_topic(stack)
    db = tmp_path_factory.mktemp("api") / "api.sqlite"
    # Authentication off, as the local demo runs it: every caller is the anonymous viewer.
    app = create_app(
        stack.model_copy(update={"api_db_url": f"sqlite:///{db}"}),
        ApiSettings(auth="off", consumer_group=f"test-{uuid.uuid4().hex[:8]}"),
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    async with app.router.lifespan_context(app):
        await producer.start()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            harness = Harness(client, producer)

            async def connected() -> bool:
                return bool((await harness.health())["consumer"]["connected"])

            await eventually(connected, timeout_s=40.0)
            await caught_up(stack.kafka_bootstrap, app.state.services.store.positions)
            try:
                yield harness
            finally:
                await producer.stop()


def new_site() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def make_event(site: str, device: str = "gas-01", started_ms: int = T0, **changes: Any) -> AlertEvent:
    event = AlertEvent(
        id=alert_id(site, "gw-01", device, "ch4", "anomaly_score", started_ms),
        state="open",
        kind="anomaly",
        rule="anomaly_score",
        severity="warning",
        site=site,
        gateway="gw-01",
        device=device,
        point="ch4",
        started_ms=started_ms,
        updated_ms=started_ms,
        value=87.1,
        score=0.998,
        expected_low=10.2,
        expected_high=14.9,
        message="ch4 = 87.1, expected 10.2..14.9",
    )
    return replace(event, **changes)


async def wait_for_total(api: Harness, site: str, total: int, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}

    async def matches() -> bool:
        nonlocal body
        body = await api.alerts(site=site, **params)
        return bool(body["total"] == total)

    await eventually(matches)
    return body


async def test_produced_event_is_listed(api: Harness) -> None:
    site = new_site()
    event = make_event(site)
    await api.send(event)
    body = await wait_for_total(api, site, 1)
    expected = json.loads(event.encode())
    del expected["v"]
    assert body["items"] == [expected]
    assert body["next_cursor"] is None


async def test_open_then_resolved_is_one_resolved_alert_with_history(api: Harness) -> None:
    site = new_site()
    opened = make_event(site)
    resolved = replace(opened, state="resolved", updated_ms=T0 + 60_000, value=12.0, message="back to normal")
    await api.send(opened, resolved)

    async def resolved_now() -> bool:
        items = (await api.alerts(site=site))["items"]
        return bool(items) and items[0]["state"] == "resolved"

    await eventually(resolved_now)
    body = await api.alerts(site=site)
    assert body["total"] == 1
    detail = (await api.client.get(f"/api/v1/alerts/{opened.id}")).json()
    assert detail["state"] == "resolved" and detail["value"] == 12.0
    assert [(h["state"], h["updated_ms"]) for h in detail["history"]] == [
        ("open", T0),
        ("resolved", T0 + 60_000),
    ]


async def test_same_event_twice_is_stored_once(api: Harness) -> None:
    site = new_site()
    event = make_event(site)
    duplicates_before = (await api.health())["consumer"]["events_duplicate"]
    await api.send(event, event)
    # Same key, same partition: once the later event is visible both copies were applied.
    later = replace(event, state="acknowledged", updated_ms=T0 + 1)
    await api.send(later)

    async def acknowledged() -> bool:
        items = (await api.alerts(site=site))["items"]
        return bool(items) and items[0]["state"] == "acknowledged"

    await eventually(acknowledged)
    assert (await api.alerts(site=site))["total"] == 1
    detail = (await api.client.get(f"/api/v1/alerts/{event.id}")).json()
    assert [h["state"] for h in detail["history"]] == ["open", "acknowledged"]
    assert (await api.health())["consumer"]["events_duplicate"] >= duplicates_before + 1


async def test_filters_and_pagination(api: Harness) -> None:
    site = new_site()
    events = [
        make_event(
            site,
            device=f"dev-{i % 3}",
            started_ms=T0 + 1_000 * (i // 2),  # pairs share a start: pages must break ties by id
            severity="critical" if i % 4 == 0 else "warning",
            state="resolved" if i % 5 == 0 else "open",
        )
        for i in range(10)
    ]
    await api.send(*events)
    await wait_for_total(api, site, 10)

    newest_first = sorted(events, key=lambda e: (e.started_ms, e.id), reverse=True)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = await api.alerts(site=site, **params)
        assert page["total"] == 10 and len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [e.id for e in newest_first]

    def ids(predicate: Callable[[AlertEvent], bool]) -> list[str]:
        return [e.id for e in newest_first if predicate(e)]

    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"device": "dev-1"}, ids(lambda e: e.device == "dev-1")),
        ({"state": "resolved"}, ids(lambda e: e.state == "resolved")),
        ({"state": ["resolved", "open"]}, ids(lambda e: True)),
        ({"severity": "critical"}, ids(lambda e: e.severity == "critical")),
        (
            {"severity": "critical", "state": "open"},
            ids(lambda e: e.severity == "critical" and e.state == "open"),
        ),
        ({"since_ms": T0 + 2_000}, ids(lambda e: e.started_ms >= T0 + 2_000)),
        ({"until_ms": T0 + 2_000}, ids(lambda e: e.started_ms < T0 + 2_000)),
        (
            {"since_ms": T0 + 1_000, "until_ms": T0 + 3_000},
            ids(lambda e: T0 + 1_000 <= e.started_ms < T0 + 3_000),
        ),
        ({"device": "no-such-device"}, []),
    ]
    for query, expected in cases:
        page = await api.alerts(site=site, **query)
        assert [item["id"] for item in page["items"]] == expected, query
        assert page["total"] == len(expected), query


async def test_flood_incidents_group_their_members_and_escalations_are_kept(api: Harness) -> None:
    site = new_site()
    flood = make_event(site, device="", kind="flood", rule="flood", started_ms=T0 + 5)
    members = [
        make_event(site, device=f"gas-{i}", group=flood.id, escalation=i) for i in range(3)
    ]
    alone = make_event(site, device="gas-9", started_ms=T0 + 1)
    await api.send(flood, *members, alone)
    body = await wait_for_total(api, site, 5)
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id[flood.id]["kind"] == "flood" and by_id[flood.id]["group"] is None
    assert [(by_id[m.id]["group"], by_id[m.id]["escalation"]) for m in members] == [
        (flood.id, 0), (flood.id, 1), (flood.id, 2)
    ]
    grouped = await api.alerts(group=flood.id)
    assert grouped["total"] == 3 and {item["id"] for item in grouped["items"]} == {m.id for m in members}
    detail = (await api.client.get(f"/api/v1/alerts/{members[2].id}")).json()
    assert (detail["group"], detail["escalation"]) == (flood.id, 2)
    assert (await api.client.get("/api/v1/alerts", params={"group": ""})).status_code == 422


async def test_malformed_records_are_counted_and_later_events_still_arrive(api: Harness) -> None:
    site = new_site()
    good = make_event(site)
    bad: list[bytes | None] = [
        b"not json at all",
        b'{"v": 99}',
        b'{"v": 1, "id": "half-an-event"}',
        make_event(site, state="exploded").encode(),
        None,
    ]
    malformed_before = (await api.health())["consumer"]["events_malformed"]
    for value in bad:
        # Same key as the good event: same partition, so they are read before it.
        await api.send_raw(good.id, value)
    await api.send(good)
    await wait_for_total(api, site, 1)
    health = await api.health()
    assert health["consumer"]["events_malformed"] >= malformed_before + len(bad)
    assert health["consumer"]["connected"] is True


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=ten",
        "state=exploded",
        "state=open&state=bogus",
        "severity=loud",
        "since_ms=-1",
        "since_ms=yesterday",
        "until_ms=99999999999999999999999",
        "since_ms=2000&until_ms=1000",
        "cursor=not-a-cursor",
        "cursor=" + "A" * 600,
        "site=bad%20site!",
        "device=" + "d" * 65,
    ],
)
async def test_bad_query_params_are_problem_422(api: Harness, query: str) -> None:
    response = await api.client.get(f"/api/v1/alerts?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422 and body["type"] == "about:blank" and body["title"]
    assert body["detail"] and body["errors"] and body["instance"] == "/api/v1/alerts"


async def test_unknown_alert_is_problem_404(api: Harness) -> None:
    response = await api.client.get(f"/api/v1/alerts/{new_site()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith("no alert with id")


async def test_openapi_declares_problems(api: Harness) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    listing = spec["paths"]["/api/v1/alerts"]["get"]["responses"]
    assert "application/problem+json" in listing["422"]["content"]
    detail = spec["paths"]["/api/v1/alerts/{alert_id}"]["get"]["responses"]
    assert "application/problem+json" in detail["404"]["content"]
