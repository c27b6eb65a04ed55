"""The API's alerts consumer against the real broker: it waits for Kafka and for the topic.

Each test has its own topic and consumer group, so it neither sees nor
disturbs the ``alerts`` topic and the ``parkwatch-cloud-api`` group.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cloud_api.alerts_consumer import AlertsConsumer
from cloud_api.db import Database
from cloud_api.maintenance import MaintenanceStore
from cloud_api.sql_store import SqlAlertStore
from parkwatch.settings import Settings
from parkwatch.testing import free_port
from parkwatch.wire.alerts import AlertEvent

pytestmark = [pytest.mark.services, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _event(alert_id: str) -> AlertEvent:
    return AlertEvent(
        alert_id, "open", "anomaly", "r", "info", "t-cons", "gw", "d", "p", 1, 1, 1.0, None, None, None, ""
    )


async def _eventually(check: Callable[[], bool | Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _consumer(bootstrap: str, topic: str) -> AsyncIterator[tuple[AlertsConsumer, SqlAlertStore]]:
    store = SqlAlertStore(Database("sqlite:///:memory:"))
    store.open()
    consumer = AlertsConsumer(
        store, bootstrap, topic=topic, group_id=f"test-{uuid.uuid4().hex[:8]}", retry_initial_s=0.2
    )
    await consumer.start()
    try:
        yield consumer, store
    finally:
        await consumer.stop()
        store.close()
        assert consumer.stats.state == "stopped"


async def _topics(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _create_topic_and_send(settings: Settings, topic: str, event: AlertEvent) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, event.encode(), key=event.id.encode())
    finally:
        await producer.stop()


async def test_waits_for_the_topic_instead_of_creating_it(stack: Settings) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    async with _consumer(stack.kafka_bootstrap, topic) as (consumer, store):
        await _eventually(lambda: consumer.stats.state == "waiting_for_topic", 10, "waiting for the topic")
        await asyncio.sleep(1.5)
        assert topic not in await _topics(stack)

        await _create_topic_and_send(stack, topic, _event("waited-1"))
        await _eventually(lambda: consumer.stats.events_consumed == 1, 40, "event consumed")
        assert consumer.stats.connected
        assert store.get("waited-1") is not None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def test_retries_until_kafka_answers(stack: Settings) -> None:
    # The consumer bootstraps from a port where nothing listens yet; later a TCP
    # forwarder to the real broker opens there, as if Kafka had just started.
    port = free_port()
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    await _create_topic_and_send(stack, topic, _event("retried-1"))

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(stack.kafka_host, stack.kafka_port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async with _consumer(f"127.0.0.1:{port}", topic) as (consumer, store):
        await _eventually(lambda: consumer.stats.last_error is not None, 10, "a connection error")
        assert consumer.stats.state == "connecting"
        assert "KafkaConnectionError" in (consumer.stats.last_error or "")

        server = await asyncio.start_server(forward, "127.0.0.1", port)
        try:
            await _eventually(lambda: consumer.stats.events_consumed == 1, 40, "event consumed")
            assert store.get("retried-1") is not None
        finally:
            server.close()


async def test_a_recreated_topic_is_read_from_the_start(stack: Settings) -> None:
    # The store remembers offset 50 of a topic that now ends at 1 (a memory-only broker
    # restarted, or the topic was deleted and made again): the new event must not be skipped.
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    await _create_topic_and_send(stack, topic, _event("recreated-1"))
    store = SqlAlertStore(Database("sqlite:///:memory:"))
    store.open()
    store.apply([], {(topic, 0): 50})
    assert store.positions(topic) == {0: 50}
    group = f"test-{uuid.uuid4().hex[:8]}"
    consumer = AlertsConsumer(store, stack.kafka_bootstrap, topic=topic, group_id=group, retry_initial_s=0.2)
    await consumer.start()
    try:
        await _eventually(lambda: consumer.stats.events_consumed == 1, 40, "event consumed")
        assert store.get("recreated-1") is not None
    finally:
        await consumer.stop()
        store.close()


async def test_an_alert_opening_in_a_maintenance_window_is_reported_suppressed(stack: Settings) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    reported: list[AlertEvent] = []

    async def on_suppressed(events: list[AlertEvent]) -> None:
        reported.extend(events)

    store = SqlAlertStore(Database("sqlite:///:memory:"))
    store.open()
    MaintenanceStore(store.db).create({
        "site": "t-cons", "gateway": None, "device": "d", "point": None, "from_ms": 0,
        "until_ms": 2**62, "reason": "calibration", "created_by": "test", "created_ms": 0,
    })
    consumer = AlertsConsumer(store, stack.kafka_bootstrap, topic=topic,
                              group_id=f"test-{uuid.uuid4().hex[:8]}", on_suppressed=on_suppressed)
    await consumer.start()
    try:
        await _create_topic_and_send(stack, topic, _event("in-window"))
        await _eventually(lambda: consumer.stats.events_consumed == 1, 40, "event consumed")
        await _eventually(lambda: bool(reported), 5, "suppression reported")
        assert [(e.id, e.state) for e in reported] == [("in-window", "suppressed")]
        stored = store.get("in-window")
        assert stored is not None and stored.alert.state == "suppressed"
    finally:
        await consumer.stop()
        store.close()
