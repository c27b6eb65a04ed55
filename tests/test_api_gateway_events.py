"""``GET /api/v1/gateway-events`` against SQLite and PostgreSQL, fed from the session's real Kafka
``gateway-events`` topic.

Events produced to the topic (as the bridge encodes them) appear in the list
with every field, filtered and paged; a re-emitted id is one row (the first
observation); an inspector never sees another site's events; malformed
records are counted and skipped without stopping the consumer; the consumer's
positions are stored with the events, so a restarted API resumes after them.
(Every role and no token: ``test_api_access.py``.)

The topic is shared with the whole session (the bridges' tests publish to it)
and every app replays it, so each test uses gateways or sites of its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from cloud_api.app import create_app
from cloud_api.config import ApiSettings
from cloud_api.dependencies import Services, now_ms
from cloud_api.gateway_events import GatewayEventStore
from cloud_api.topic_consumer import TopicConsumer
from parkwatch.settings import Settings
from parkwatch.wire.events import KAFKA_GATEWAY_EVENTS, GatewayEvent
from stream_processor.kafka_topics import ensure_topics
from tests.test_api_access import database_url
from tests.test_api_alerts import eventually

pytestmark = [pytest.mark.services, pytest.mark.anyio]

SITE = f"ge{uuid.uuid4().hex[:8]}"
OTHER_SITE = f"gx{uuid.uuid4().hex[:8]}"
ROLES = {"admin": [], "commander": [], "inspector": [SITE], "viewer": []}
PATH = "/api/v1/gateway-events"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    producer: AIOKafkaProducer
    tokens: dict[str, str]
    settings: Settings

    @property
    def consumer(self) -> TopicConsumer[GatewayEvent]:
        consumer: TopicConsumer[GatewayEvent] = self.app.state.gateway_events_consumer
        return consumer

    @property
    def store(self) -> GatewayEventStore:
        store: GatewayEventStore = self.app.state.gateway_events
        return store

    async def send(self, *events: GatewayEvent) -> int:
        """Produce ``events`` in order; the offset of the last one."""
        offset = -1
        for event in events:
            sent = await self.producer.send_and_wait(KAFKA_GATEWAY_EVENTS, event.encode(), key=event.key)
            offset = sent.offset
        return offset

    async def list(self, role: str = "admin", **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            PATH, params={"limit": 500, **params}, headers={"Authorization": f"Bearer {self.tokens[role]}"}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def shown(self, event: GatewayEvent, role: str = "admin") -> None:
        """Wait until ``event`` is listed (so every record produced before it was applied)."""

        async def listed() -> bool:
            body = await self.list(role, site=event.site, gateway=event.gateway)
            return event.id in {item["id"] for item in body["items"]}

        await eventually(listed, timeout_s=20.0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def api(request: pytest.FixtureRequest, stack: Settings, tmp_path_factory: pytest.TempPathFactory
              ) -> AsyncIterator[Api]:  # fmt: skip
    await ensure_topics(stack)  # `gateway-events` as the bridge's deployment creates it: one partition
    settings = stack.model_copy(
        update={"api_db_url": database_url(request.param, tmp_path_factory.mktemp("events-api"))}
    )
    app = create_app(
        settings,
        ApiSettings(rate_per_s=1000, rate_burst=1000, consumer_group=f"test-{uuid.uuid4().hex[:8]}"),
    )
    services: Services = app.state.services
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    async with app.router.lifespan_context(app):
        tokens = {}
        for role, sites in ROLES.items():
            services.accounts.add_user(f"{role}-1", role, sites, now_ms())
            tokens[role] = services.accounts.create_token(f"{role}-1", now_ms(), None).text
        await producer.start()
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                harness = Api(app, client, producer, tokens, settings)

                async def connected() -> bool:
                    return harness.consumer.stats.connected

                await eventually(connected, timeout_s=40.0)
                yield harness
        finally:
            await producer.stop()


def new_gateway() -> str:
    return f"gw-{uuid.uuid4().hex[:8]}"


def gap(
    site: str, gateway: str, lo: int, hi: int, stream: Any = "data", ts_ms: int | None = None
) -> GatewayEvent:
    return GatewayEvent.make("gap", site, gateway, ts_ms or now_ms(), "bridge-1", stream=stream, from_seq=lo,
                             to_seq=hi, detail="not received within 60s")  # fmt: skip


def status(kind: Any, site: str, gateway: str, ts_ms: int) -> GatewayEvent:
    return GatewayEvent.make(kind, site, gateway, now_ms(), "bridge-1", detail=f"status ts_ms={ts_ms}",
                             identity=str(ts_ms))  # fmt: skip


def as_listed(event: GatewayEvent) -> dict[str, Any]:
    return asdict(event)


async def test_events_from_the_topic_are_listed_filtered_and_paged(api: Api) -> None:
    gw = new_gateway()
    t = now_ms()
    events = [
        gap(SITE, gw, 101, 140, ts_ms=t - 9000),
        gap(SITE, gw, 7, 7, stream="alarm", ts_ms=t - 8000),
        GatewayEvent.make("duplicate", SITE, gw, t - 7000, "bridge-1", stream="data", from_seq=90,
                          to_seq=95, count=3, detail="dropped", identity="1"),
        GatewayEvent.make("late", SITE, gw, t - 6000, "bridge-1", stream="data", from_seq=120, to_seq=121,
                          count=2, detail="forwarded after being reported as a gap", identity="2"),
        GatewayEvent.make("seq_reset", SITE, gw, t - 5000, "bridge-1", stream="data", from_seq=500, to_seq=1),
        status("offline", SITE, gw, t - 4000),
        status("online", SITE, gw, t - 3000),
    ]  # fmt: skip
    await api.send(*events)
    await api.shown(events[-1])

    body = await api.list(site=SITE, gateway=gw)
    newest_first = sorted(events, key=lambda e: (e.ts_ms, e.id), reverse=True)
    assert body["items"] == [as_listed(e) for e in newest_first]
    assert (body["total"], body["next_cursor"]) == (7, None)
    assert body["items"][-1]["count"] == 40 and body["items"][-1]["stream"] == "data"

    gaps = await api.list(site=SITE, gateway=gw, kind="gap")
    assert [i["id"] for i in gaps["items"]] == [events[1].id, events[0].id]
    status_events = await api.list(gateway=gw, kind=["offline", "online"])
    assert {i["kind"] for i in status_events["items"]} == {"offline", "online"}
    assert status_events["items"][0]["from_seq"] is None and status_events["items"][0]["stream"] is None
    window = await api.list(gateway=gw, since_ms=events[2].ts_ms, until_ms=events[4].ts_ms)
    assert [i["kind"] for i in window["items"]] == ["late", "duplicate"]
    # The wall's count: gap events of the last 24 h.
    day = await api.list(gateway=gw, kind="gap", since_ms=now_ms() - 86_400_000, limit=1)
    assert day["total"] == 2 and len(day["items"]) == 1 and day["next_cursor"] is not None

    seen: list[str] = []
    params: dict[str, Any] = {"gateway": gw, "limit": 3}
    while True:
        page = await api.list(**params)
        assert page["total"] == 7
        seen += [i["id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [e.id for e in newest_first]


async def test_a_re_emitted_event_is_one_row_with_the_first_observation(api: Api) -> None:
    gw = new_gateway()
    first = gap(SITE, gw, 11, 20)
    await api.send(first)
    await api.shown(first)
    duplicates = api.consumer.stats.events_duplicate
    # The bridge restarted (or another bridge of its share group saw the same hole) and says it again.
    again = replace(first, ts_ms=first.ts_ms + 5000, bridge="bridge-2")
    marker = gap(SITE, gw, 30, 30)
    await api.send(again, again, marker)
    await api.shown(marker)

    listed = await api.list(gateway=gw, kind="gap")
    assert [i["id"] for i in listed["items"]] == [marker.id, first.id]
    assert listed["items"][1] == as_listed(first)
    assert api.consumer.stats.events_duplicate == duplicates + 2


async def test_an_inspector_never_sees_another_sites_events(api: Api) -> None:
    gw = new_gateway()
    mine = gap(SITE, gw, 1, 3)
    theirs = [gap(OTHER_SITE, gw, 1, 3), status("offline", OTHER_SITE, gw, now_ms())]
    await api.send(*theirs, mine)
    await api.shown(mine)
    await api.shown(theirs[-1])

    everything = await api.list("inspector")
    assert everything["items"] and {i["site"] for i in everything["items"]} == {SITE}
    assert everything["total"] == (await api.list("admin", site=SITE))["total"]
    elsewhere: list[dict[str, Any]] = [
        {"site": OTHER_SITE},
        {"gateway": gw, "site": OTHER_SITE},
        {"kind": "offline", "gateway": gw},
    ]
    for params in elsewhere:
        body = await api.list("inspector", **params)
        assert (body["items"], body["total"]) == ([], 0), params
    assert [i["id"] for i in (await api.list("inspector", gateway=gw))["items"]] == [mine.id]
    for role in ("admin", "commander", "viewer"):
        ids = {i["id"] for i in (await api.list(role, gateway=gw))["items"]}
        assert ids == {mine.id, *(e.id for e in theirs)}, role


async def test_malformed_records_are_counted_and_skipped(api: Api) -> None:
    gw = new_gateway()
    before_marker = gap(SITE, gw, 1, 1)
    await api.send(before_marker)
    await api.shown(before_marker)
    malformed = api.consumer.stats.events_malformed
    good = asdict(gap(SITE, gw, 5, 6))
    bad: list[bytes | None] = [
        None,
        b"not json",
        b'{"v": 2}',
        GatewayEvent.make("gap", SITE, gw, now_ms(), "b", stream="data", from_seq=1, to_seq=2).encode()[:-1],
        _json({**good, "kind": "exploded"}),
        _json({**good, "site": 42}),
        _json({**good, "ts_ms": "yesterday"}),
        _json({**good, "to_seq": 2**64}),
        _json({**good, "stream": None}),
    ]
    for value in bad:
        await api.producer.send_and_wait(KAFKA_GATEWAY_EVENTS, value, key=f"{SITE}/{gw}".encode())
    marker = gap(SITE, gw, 9, 9)
    offset = await api.send(marker)
    await api.shown(marker)

    assert api.consumer.stats.events_malformed == malformed + len(bad)
    assert api.consumer.stats.connected and api.consumer.stats.last_error is None
    health = (await api.client.get("/healthz")).json()["gateway_events"]
    assert health["connected"] and health["events_malformed"] == malformed + len(bad)
    assert [i["id"] for i in (await api.list(gateway=gw))["items"]] == [marker.id, before_marker.id]
    # Their offsets were stored with the marker's batch: a restart does not read them again.
    assert api.store.positions(KAFKA_GATEWAY_EVENTS) == {0: offset + 1}


async def test_a_restarted_api_resumes_after_its_stored_positions(api: Api) -> None:
    gw = new_gateway()
    first = gap(SITE, gw, 1, 2)
    await api.send(first)
    await api.shown(first)
    positions = api.store.positions(KAFKA_GATEWAY_EVENTS)
    # A second app on the same database with a fresh consumer group: where to start is the database's
    # business, not the group's (a new group would otherwise read the topic from its start).
    second = create_app(api.settings, ApiSettings(consumer_group=f"test-{uuid.uuid4().hex[:8]}"))
    async with second.router.lifespan_context(second):
        consumer: TopicConsumer[GatewayEvent] = second.state.gateway_events_consumer

        async def connected() -> bool:
            return consumer.stats.connected

        await eventually(connected, timeout_s=40.0)
        marker = gap(SITE, gw, 3, 3)
        offset = await api.send(marker)

        async def applied() -> bool:
            return consumer.stats.events_consumed >= 1

        await eventually(applied, timeout_s=20.0)
        await asyncio.sleep(0.5)
        # Only the marker: nothing before the stored position was read again. (The first app applies
        # the marker too, so the second may find it stored already.)
        assert consumer.stats.events_consumed == 1
        assert second.state.gateway_events.positions(KAFKA_GATEWAY_EVENTS) == {0: offset + 1}
    assert positions == {0: offset}


async def test_bad_parameters_are_422_problems(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.tokens['viewer']}"}
    for params in (
        {"since_ms": 10, "until_ms": 5},
        {"cursor": "garbage"},
        {"kind": "exploded"},
        {"limit": 0},
        {"site": "a/b"},
        {"since_ms": -1},
    ):
        response = await api.client.get(PATH, params=params, headers=headers)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 422


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps({"v": 1, **doc}).encode()
