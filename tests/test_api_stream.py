"""``/api/v1/stream`` against a real ``parkwatch api`` process with tokens.

Alert events go in through Kafka (as the stream processor sends them) and an
operator's acknowledgement through the REST API; WebSocket clients with
different roles must see exactly what their role and sites allow, masked
where they have no clearance, and a client that reconnects with
``?since=<seq>`` must get what it missed, in order, before live events.

:class:`ApiServer` is shared with the browser tests (``test_console_browser.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiokafka import AIOKafkaProducer

from cloud_api.accounts import AccountStore
from cloud_api.db import Database
from cloud_api.sql_store import SqlAlertStore
from parkwatch.influxql import ensure_database
from parkwatch.settings import Settings
from parkwatch.testing import free_port
from parkwatch.wire.alerts import AlertEvent, alert_id
from parkwatch.wire.topics import KAFKA_ALERTS
from stream_processor.testing import Component
from tests.test_api_alerts import caught_up, ensure_alerts_topic

pytestmark = pytest.mark.services


@dataclass
class ApiServer:
    """A ``parkwatch api`` subprocess on a private SQLite database, with one token per user."""

    url: str
    process: Component
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v1/stream"

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def log_tail(self) -> str:
        return self.process.log_tail()


@dataclass(frozen=True)
class User:
    name: str
    role: str
    sites: tuple[str, ...] = ()


def start_api(
    stack: Settings,
    tmp: Path,
    users: list[User],
    auth: str = "tokens",
    extra_env: dict[str, str] | None = None,
) -> ApiServer:
    """Create ``users`` and their tokens, start the API, wait until its consumer has replayed
    the session's ``alerts`` topic."""
    asyncio.run(ensure_alerts_topic(stack))
    db_url = f"sqlite:///{tmp / 'api.sqlite'}"
    db = Database(db_url)
    db.open()
    accounts = AccountStore(db)
    tokens: dict[str, str] = {}
    now = int(time.time() * 1000)
    for user in users:
        accounts.add_user(user.name, user.role, list(user.sites), now)
        tokens[user.name] = accounts.create_token(user.name, now, None).text
    db.close()
    port = free_port()
    env = {
        "PARKWATCH_API_DB_URL": db_url,
        "PARKWATCH_API_AUTH": auth,
        "PARKWATCH_API_PORT": str(port),
        # Fresh group per server: positions live in its own store anyway.
        "PARKWATCH_API_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}",
        "PARKWATCH_API_RATE_PER_S": "1000",
        "PARKWATCH_API_RATE_BURST": "1000",
        **(extra_env or {}),
    }
    server = ApiServer(f"http://127.0.0.1:{port}", Component(["api"], tmp / "api.log", env), tokens)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not server.process.alive:
            pytest.fail(f"parkwatch api exited with {server.process.stop()}:\n{server.log_tail()}")
        try:
            health = httpx.get(f"{server.url}/healthz", timeout=2.0).json()
            if health["consumer"]["connected"]:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        stop_api(server)
        pytest.fail(f"the API's consumer did not connect within 60 s:\n{server.log_tail()}")
    try:
        _replayed(stack, db_url)
    except BaseException:
        stop_api(server)
        raise
    return server


def _replayed(stack: Settings, db_url: str) -> None:
    store = SqlAlertStore(Database(db_url))
    store.open()
    try:
        asyncio.run(caught_up(stack.kafka_bootstrap, store.positions))
    finally:
        store.close()


def stop_api(server: ApiServer) -> None:
    server.process.stop(timeout_s=15)


async def produce(settings: Settings, *events: AlertEvent) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(KAFKA_ALERTS, event.encode(), key=event.id.encode())
    finally:
        await producer.stop()


def make_alert(site: str, device: str = "gas-01", point: str = "ch4", **changes: Any) -> AlertEvent:
    started = changes.pop("started_ms", int(time.time() * 1000))
    event = AlertEvent(
        id=alert_id(site, "gw-01", device, point, "anomaly_score", started),
        state="open",
        kind="anomaly",
        rule="anomaly_score",
        severity="critical",
        site=site,
        gateway="gw-01",
        device=device,
        point=point,
        started_ms=started,
        updated_ms=started,
        value=87.1,
        score=0.998,
        expected_low=10.2,
        expected_high=14.9,
        message=f"{point} = 87.1, expected 10.2..14.9",
    )
    for key, value in changes.items():
        setattr(event, key, value)
    return event


class Client:
    """One stream connection and what it has received."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.hello: dict[str, Any] = {}
        self.alerts: list[dict[str, Any]] = []
        #: Items of the ``values`` messages, in arrival order.
        self.values: list[dict[str, Any]] = []

    @classmethod
    async def connect(
        cls, url: str, token: str | None, since: int | None = None, values: bool = False
    ) -> Client:
        query = [f"since={since}"] if since is not None else []
        if token is not None:
            query.append(f"token={token}")
        if values:
            query.append("values=true")
        ws = await websockets.connect(url + ("?" + "&".join(query) if query else ""))
        client = cls(ws)
        client.hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert client.hello["type"] == "hello", client.hello
        return client

    async def until(self, predicate: Any, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        """Receive until ``predicate(alerts so far)`` holds."""
        await self._receive(lambda: predicate(self.alerts), timeout_s)
        return self.alerts

    async def until_values(self, predicate: Any, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        """Receive until ``predicate(value items so far)`` holds."""
        await self._receive(lambda: predicate(self.values), timeout_s)
        return self.values

    async def _receive(self, done: Any, timeout_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not done():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                ids = [a["alert"]["id"] for a in self.alerts]
                pytest.fail(f"not received within {timeout_s} s; got alerts {ids}, {len(self.values)} values")
            try:
                message = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            except TimeoutError:
                continue
            if message["type"] == "alert":
                self.alerts.append(message)
            elif message["type"] == "values":
                self.values += message["items"]

    def of_sites(self, *sites: str) -> list[dict[str, Any]]:
        return [m for m in self.alerts if m["alert"]["site"] in sites]

    async def close(self) -> None:
        await self.ws.close()


NORTH = f"n{uuid.uuid4().hex[:8]}"
SOUTH = f"s{uuid.uuid4().hex[:8]}"
USERS = [
    User("ada", "admin"),
    User("ines", "inspector", (NORTH,)),
    User("vic", "viewer"),
]


@pytest.fixture(scope="module")
def api(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_api(stack, tmp_path_factory.mktemp("stream-api"), USERS)
    try:
        yield server
    finally:
        stop_api(server)


def test_clients_get_their_sites_masked_by_role_and_see_an_acknowledgement(
    stack: Settings, api: ApiServer
) -> None:
    north = make_alert(NORTH)
    south = make_alert(SOUTH, severity="warning")
    secret = make_alert(NORTH, device="flow-01", point="rate", value=4242.5)

    async def scenario() -> None:
        admin = await Client.connect(api.ws_url, api.tokens["ada"])
        inspector = await Client.connect(api.ws_url, api.tokens["ines"])
        # The browser way: no token in the URL, it comes as the first message.
        viewer_ws = await websockets.connect(api.ws_url)
        await viewer_ws.send(json.dumps({"type": "auth", "token": api.tokens["vic"]}))
        viewer = Client(viewer_ws)
        viewer.hello = json.loads(await asyncio.wait_for(viewer_ws.recv(), 10))
        assert (inspector.hello["role"], inspector.hello["sites"]) == ("inspector", [NORTH])
        assert viewer.hello["user"] == "vic"

        await produce(stack, north, south, secret)
        three = lambda got: len([m for m in got if m["alert"]["site"] in (NORTH, SOUTH)]) >= 3  # noqa: E731
        await admin.until(three)
        await viewer.until(three)
        await inspector.until(lambda got: len(got) >= 2)

        by_id = {m["alert"]["id"]: m["alert"] for m in admin.of_sites(NORTH, SOUTH)}
        assert by_id[secret.id]["value"] == 4242.5  # cleared
        seen_by_viewer = {m["alert"]["id"]: m["alert"] for m in viewer.of_sites(NORTH, SOUTH)}
        assert seen_by_viewer[secret.id]["value"] is None
        assert seen_by_viewer[secret.id]["message"] == "(masked: sensitive point)"
        assert seen_by_viewer[north.id]["value"] == 87.1
        assert {m["alert"]["site"] for m in inspector.alerts} == {NORTH}
        assert {m["alert"]["id"] for m in inspector.alerts} == {north.id, secret.id}
        assert inspector.of_sites(NORTH)[-1]["alert"]["value"] is None  # not cleared either
        seqs = [m["seq"] for m in admin.alerts]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

        # An inspector acknowledges on the phone: every client allowed to see it is told, once.
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            resp = await http.post(
                f"/api/v1/alerts/{north.id}/acknowledge",
                json={"comment": "on my way"},
                headers=api.headers("ines"),
            )
            assert resp.status_code == 200, resp.text

        def acked(got: list[dict[str, Any]]) -> bool:
            return any(m["alert"]["id"] == north.id and m["alert"]["state"] == "acknowledged" for m in got)

        for client in (admin, inspector, viewer):
            await client.until(acked)
        await asyncio.sleep(1.5)  # the consumer reads the change back from Kafka: no second event
        await admin.until(lambda got: True, timeout_s=0.5)
        assert len([m for m in admin.alerts if m["alert"]["id"] == north.id]) == 2
        for client in (admin, inspector, viewer):
            await client.close()

    asyncio.run(scenario())


def test_a_reconnecting_client_first_gets_what_it_missed(stack: Settings, api: ApiServer) -> None:
    first = make_alert(NORTH, point="h2s")

    async def scenario() -> None:
        inspector = await Client.connect(api.ws_url, api.tokens["ines"])
        await produce(stack, first)
        got = await inspector.until(lambda got: any(m["alert"]["id"] == first.id for m in got))
        last_seq = got[-1]["seq"]
        await inspector.close()

        # While it is away: two on its site, one elsewhere, and a state change.
        missed = [make_alert(NORTH, point="co"), make_alert(NORTH, point="o2")]
        elsewhere = make_alert(SOUTH, point="co")
        resolved = make_alert(NORTH, point="h2s", started_ms=first.started_ms, state="resolved")
        resolved.updated_ms = first.updated_ms + 1000
        await produce(stack, *missed, elsewhere, resolved)
        async with httpx.AsyncClient(base_url=api.url, headers=api.headers("ada"), timeout=10) as http:
            deadline = time.monotonic() + 15
            while (await http.get(f"/api/v1/alerts/{first.id}")).json()["state"] != "resolved":
                assert time.monotonic() < deadline, "the API did not apply the missed events"
                await asyncio.sleep(0.2)

        back = await Client.connect(api.ws_url, api.tokens["ines"], since=last_seq)
        replayed = await back.until(lambda got: len(got) >= 3)
        assert [(m["alert"]["id"], m["alert"]["state"]) for m in replayed[:3]] == [
            (missed[0].id, "open"),
            (missed[1].id, "open"),
            (first.id, "resolved"),
        ]
        assert all(m["seq"] > last_seq for m in replayed)
        # ... then live events, without repeats.
        live = make_alert(NORTH, point="nh3")
        await produce(stack, live)
        await back.until(lambda got: any(m["alert"]["id"] == live.id for m in got))
        ids = [m["alert"]["id"] for m in back.alerts]
        assert len(ids) == len(set(ids)) == 4
        await back.close()

    asyncio.run(scenario())


def test_a_bad_token_is_refused_and_the_console_pages_are_served(api: ApiServer) -> None:
    async def scenario() -> None:
        ws = await websockets.connect(api.ws_url + "?token=pw_nope_nope")
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["status"] == 401
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    asyncio.run(scenario())
    for path in ("/console/", "/console/wall", "/console/inspector", "/console/rules"):
        resp = httpx.get(api.url + path, timeout=5)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in resp.headers["content-security-policy"]
    for name in ("common.js", "wall.js", "inspector.js", "rules.js", "console.css"):
        assert httpx.get(f"{api.url}/console/static/{name}", timeout=5).status_code == 200
    assert httpx.get(f"{api.url}/console/static/..%2Fapp.py", timeout=5).status_code == 404


def write_readings(settings: Settings, *lines: str) -> None:
    ensure_database(settings)
    resp = httpx.post(
        f"{settings.influx_url}/write",
        params={"db": settings.influx_db, "precision": "ms"},
        content="\n".join(lines).encode(),
        timeout=10,
    )
    assert resp.status_code == 204, resp.text


def reading_line(site: str, device: str, point: str, value: float, ts_ms: int) -> str:
    tags = f"site={site},gateway=gw-01,device={device},point={point}"
    return f'reading,{tags} value={value},quality="good" {ts_ms}'


def test_live_values_arrive_within_seconds_by_site_and_masked_by_role(
    stack: Settings, api: ApiServer
) -> None:
    now = int(time.time() * 1000)
    ch4, h2s, flow = (
        (NORTH, "gw-01", "gas-01", "ch4"),
        (SOUTH, "gw-01", "gas-02", "h2s"),
        (NORTH, "gw-01", "flow-01", "rate"),
    )

    def of(items: list[dict[str, Any]], key: tuple[str, str, str, str]) -> list[dict[str, Any]]:
        return [v for v in items if (v["site"], v["gateway"], v["device"], v["point"]) == key]

    async def scenario() -> None:
        admin = await Client.connect(api.ws_url, api.tokens["ada"], values=True)
        inspector = await Client.connect(api.ws_url, api.tokens["ines"], values=True)
        viewer = await Client.connect(api.ws_url, api.tokens["vic"], values=True)
        alerts_only = await Client.connect(api.ws_url, api.tokens["ada"])
        written = time.monotonic()
        lines = [
            reading_line(NORTH, "gas-01", "ch4", 12.5, now),
            reading_line(SOUTH, "gas-02", "h2s", 3.25, now),
            reading_line(NORTH, "flow-01", "rate", 4242.5, now),
        ]
        await asyncio.to_thread(write_readings, stack, *lines)
        for client in (admin, viewer):
            await client.until_values(lambda got: all(of(got, k) for k in (ch4, h2s, flow)))
        await inspector.until_values(lambda got: all(of(got, k) for k in (ch4, flow)))
        assert time.monotonic() - written < 10

        assert of(admin.values, flow)[-1] | {"masked": False} == of(admin.values, flow)[-1]
        assert of(admin.values, flow)[-1]["value"] == 4242.5 and of(admin.values, ch4)[-1]["value"] == 12.5
        assert of(viewer.values, flow)[-1]["value"] is None and of(viewer.values, flow)[-1]["masked"] is True
        assert of(viewer.values, ch4)[-1] == {
            "site": NORTH, "gateway": "gw-01", "device": "gas-01", "point": "ch4", "ts_ms": now,
            "value": 12.5, "quality": "good", "masked": False,
        }  # fmt: skip
        assert of(inspector.values, flow)[-1]["value"] is None

        # A change is pushed; what did not change is not sent again.
        await asyncio.to_thread(write_readings, stack, reading_line(NORTH, "gas-01", "ch4", 13.0, now + 1000))
        for client in (admin, inspector, viewer):
            await client.until_values(lambda got: of(got, ch4)[-1]["value"] == 13.0)
        await asyncio.sleep(2.5)  # another round or so
        await viewer.until_values(lambda got: True, timeout_s=0.5)
        assert [v["value"] for v in of(viewer.values, ch4)] == [12.5, 13.0]
        assert len(of(viewer.values, flow)) == 1
        # The inspector never gets another site's values; the client that did not ask gets none.
        await inspector.until_values(lambda got: True, timeout_s=0.5)
        assert {v["site"] for v in inspector.values} == {NORTH}
        await alerts_only.until_values(lambda got: True, timeout_s=0.5)
        assert alerts_only.values == []
        for client in (admin, inspector, viewer, alerts_only):
            await client.close()

    asyncio.run(scenario())
    audit = httpx.get(
        f"{api.url}/api/v1/audit", params={"action": "sensitive.read", "actor": "ada"},
        headers=api.headers("ada"), timeout=10,
    ).json()  # fmt: skip
    points = [p for e in audit["items"] if e["target"] == "stream" for p in e["detail"].get("points", [])]
    assert points.count(f"{NORTH}/gw-01/flow-01/rate") == 1
