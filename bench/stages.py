"""Ceilings of each pipeline stage alone, on the same real services the pipeline uses.

Each function pushes realistic payloads through one service for a few
seconds and returns readings/s, so the full pipeline can be compared with
its own limits:

- MQTT: frames published QoS 1 to Mosquitto and received by a QoS 1 subscriber;
- Kafka: device records produced (acks=all) and consumed back;
- InfluxDB: line-protocol batches written over ``/write``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import paho.mqtt.client as mqtt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.synthetic import SyntheticGateway, sample_record
from parkwatch.influxql import ensure_database
from parkwatch.settings import Settings
from parkwatch.wire.frames import encode_frame

__all__ = ["mqtt_ceiling", "kafka_ceiling", "influx_ceiling"]


def mqtt_ceiling(settings: Settings, seconds: float, readings_per_frame: int = 1000) -> float:
    """Readings/s through Mosquitto: one QoS 1 publisher, one QoS 1 subscriber."""
    gw = SyntheticGateway("bench", "gw-mqtt", devices=readings_per_frame // 20, points=20)
    payload = encode_frame(gw.frame(int(time.time() * 1000)))
    topic = f"bench/{uuid.uuid4().hex}"
    received = 0
    subscribed = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal received
        received += 1

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.connect(settings.mqtt_host, settings.mqtt_port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    subscribed.wait(5)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.max_inflight_messages_set(200)
    pub.connect(settings.mqtt_host, settings.mqtt_port)
    pub.loop_start()
    sent = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        pub.publish(topic, payload, qos=1)
        sent += 1
        # Stay at most 2 s of messages ahead of the subscriber: measure flow, not a queue filling up.
        while sent - received > 200 and time.monotonic() - start < seconds + 5:
            time.sleep(0.001)
    deadline = time.monotonic() + 10
    while received < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    for client in (pub, sub):
        client.loop_stop()
        client.disconnect()
    return received * readings_per_frame / elapsed


async def _kafka(settings: Settings, seconds: float, readings_per_record: int) -> float:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    payload = sample_record(readings_per_record, int(time.time() * 1000)).encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5, max_batch_size=1_048_576
    )
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await producer.start()
    await consumer.start()
    received = 0

    async def consume() -> None:
        nonlocal received
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            received += sum(len(b) for b in batches.values())

    consumer_task = asyncio.create_task(consume())
    sent = 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            futures = [
                await producer.send(topic, payload, key=f"dev-{i % 50}".encode()) for i in range(500)
            ]
            await asyncio.gather(*futures)
            sent += len(futures)
        deadline = time.monotonic() + 15
        while received < sent and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - start
    finally:
        consumer_task.cancel()
        await producer.stop()
        await consumer.stop()
    return received * readings_per_record / elapsed


def kafka_ceiling(settings: Settings, seconds: float, readings_per_record: int = 20) -> float:
    """Readings/s through the Kafka broker: keyed records produced with acks=all and consumed."""
    return asyncio.run(_kafka(settings, seconds, readings_per_record))


def influx_ceiling(settings: Settings, seconds: float, batch: int = 5000) -> float:
    """Readings/s written to InfluxDB in line-protocol batches (one writer, like the sink)."""
    ensure_database(settings)
    url = f"{settings.influx_url}/write"
    params = {"db": settings.influx_db, "precision": "ms"}
    written = 0
    busy_s = 0.0  # time spent in InfluxDB's hands, not building lines
    ts = int(time.time() * 1000) - 3_600_000
    start = time.monotonic()
    with httpx.Client(timeout=30) as client:
        while time.monotonic() - start < seconds:
            # 2,000 distinct series, each written once per millisecond step: no overwrites.
            lines = "\n".join(
                f"bench_write,site=bench,gateway=gw,device=dev-{i // 20 % 100},point=p{i % 20} "
                f'value={i * 0.5},quality="good",score=0.01 {ts + i // 2000}'
                for i in range(written, written + batch)
            ).encode()
            t0 = time.monotonic()
            resp = client.post(url, params=params, content=lines)
            busy_s += time.monotonic() - t0
            resp.raise_for_status()
            written += batch
    elapsed = busy_s
    return written / elapsed
