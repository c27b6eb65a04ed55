"""Helpers for tests and measurements of the stream processor against real services.

* :class:`Component` runs ``python -m parkwatch ...`` as a subprocess at once (see
  :mod:`parkwatch.component`: log file, waiting for a log line, SIGTERM or SIGKILL).
* :func:`consume` reads a Kafka topic from the beginning until a predicate on
  what was read holds.
* :func:`publish_frames` sends frames over MQTT with QoS 1 and waits for every PUBACK.
* :class:`PrivateInfluxDB` and :class:`VictoriaMetrics` run a database of their own on
  free ports, which a test may stop and start without disturbing the session's stack.
* :func:`produce_records` writes device records straight to ``readings``, paced.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

import parkwatch.component
from parkwatch.settings import Settings
from parkwatch.testing import free_port
from parkwatch.wire.records import DeviceRecord
from parkwatch.wire.topics import KAFKA_READINGS

__all__ = ["Component", "PrivateInfluxDB", "VictoriaMetrics", "consume", "produce_records",
           "publish_frames"]


class Component(parkwatch.component.Component):
    """A :class:`parkwatch.component.Component` started at once with this process's environment
    (``PARKWATCH_*`` included) plus ``env``: the form every test uses."""

    def __init__(self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(args[0], list(args), log_path)
        self.start({**os.environ, **(env or {})})


async def consume(
    settings: Settings,
    topic: str,
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    *,
    keep: Callable[[ConsumerRecord[bytes, bytes]], bool] = lambda rec: True,
    timeout_s: float = 30.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records of ``topic`` (all partitions, from the start) passing ``keep``, once ``done`` says so.

    Returns what was read when the timeout expires, so the caller's assertion shows it.
    """
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(r for r in part if keep(r))
    finally:
        await consumer.stop()
    return records


def publish_frames(
    settings: Settings, messages: Sequence[tuple[str, bytes]], timeout_s: float = 30.0
) -> None:
    """Publish ``(topic, payload)`` pairs with QoS 1, in order, waiting for each PUBACK."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(100)
    client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=30)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise AssertionError(f"MQTT publish mid={info.mid} not acknowledged in {timeout_s}s")
    finally:
        client.disconnect()
        client.loop_stop()




def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} not answering:\n{log_path.read_text(errors='replace')[-2000:]}")


class PrivateInfluxDB:
    """``influxd`` (InfluxDB 1.x) on free ports with its data in ``home``; stop and start keep the data.

    Configured like the stack's (``parkwatch/stack/services.py``). ``settings``
    is ``base`` pointed at it, ``env`` the ``PARKWATCH_*`` for a subprocess.
    """

    def __init__(self, home: Path, base: Settings) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.settings = base.model_copy(update={"influx_port": free_port(), "influx_rpc_port": free_port()})
        self.env = {"PARKWATCH_INFLUX_PORT": str(self.settings.influx_port),
                    "PARKWATCH_INFLUX_RPC_PORT": str(self.settings.influx_rpc_port)}
        self.conf = home / "influxdb.conf"
        host = self.settings.influx_host
        self.conf.write_text(f"""reporting-disabled = true
bind-address = "{host}:{self.settings.influx_rpc_port}"
[meta]
  dir = "{home / 'meta'}"
[data]
  dir = "{home / 'data'}"
  wal-dir = "{home / 'wal'}"
  query-log-enabled = false
[http]
  bind-address = "{host}:{self.settings.influx_port}"
  log-enabled = false
  max-body-size = 50000000
[monitor]
  store-enabled = false
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.home / "influxd.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(["influxd", "-config", str(self.conf)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        _wait_http(f"{self.settings.influx_url}/ping", 30, self.proc, self.home / "influxd.log")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class VictoriaMetrics:
    """``victoria-metrics`` on a free port (it takes InfluxDB line protocol on ``/write`` and
    ``/api/v2/write``); ``settings`` point the v2 sink at it.

    ``-dedup.minScrapeInterval=1ms`` gives InfluxDB's semantics (a point written
    again at the same series and time replaces it); without it VictoriaMetrics
    keeps both samples. ``-retentionPeriod=100y``: test data has fixed, old timestamps.
    """

    def __init__(self, home: Path, base: Settings) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.settings = base.model_copy(update={"influx_port": port, "influx_api": "v2",
                                                "influx_token": "unused"})
        log = open(home / "vm.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            ["victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={home / 'data'}",
             "-search.latencyOffset=0s", "-retentionPeriod=100y",
             "-dedup.minScrapeInterval=1ms"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_http(f"{self.url}/health", 30, self.proc, home / "vm.log")

    def export(self, match: str) -> list[dict[str, object]]:
        """Every series matching ``match`` (a PromQL series selector), as ``/api/v1/export`` lines."""
        import json
        from urllib.parse import urlencode

        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10):
            pass
        query = urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as resp:
            return [json.loads(line) for line in resp.read().decode().splitlines() if line]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def produce_records(settings: Settings, records: Sequence[DeviceRecord], rate_per_s: float,
                          *, progress: Callable[[int], None] | None = None) -> None:
    """Send records to ``readings`` (key = device key, ``acks=all``) at about ``rate_per_s`` records/s.

    ``progress(n)`` is called after each second's worth of records with the number sent so far.
    """
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        per_tick = max(1, round(rate_per_s / 10))
        started = time.monotonic()
        for i in range(0, len(records), per_tick):
            futures = [await producer.send(KAFKA_READINGS, r.encode(), key=r.key.encode())
                       for r in records[i:i + per_tick]]
            await asyncio.gather(*futures)
            if progress is not None:
                progress(min(i + per_tick, len(records)))
            ahead = started + (i + per_tick) / rate_per_s - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
    finally:
        await producer.stop()
