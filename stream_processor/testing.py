"""Helpers for tests and measurements of the stream processor against real services.

* :class:`Component` runs ``python -m parkwatch ...`` as a subprocess with its
  log in a file, waits for a log line, and stops it with SIGTERM (returning
  the exit code), killing it only if it does not stop in time.
* :func:`consume` reads a Kafka topic from the beginning until a predicate on
  what was read holds.
* :func:`publish_frames` sends frames over MQTT with QoS 1 and waits for every PUBACK.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from parkwatch.settings import Settings

__all__ = ["Component", "consume", "publish_frames"]


class Component:
    """A ``parkwatch`` subcommand in a subprocess (inherits ``PARKWATCH_*`` from the environment)."""

    def __init__(self, args: Sequence[str], log_path: Path) -> None:
        self.args = [sys.executable, "-m", "parkwatch", *args]
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ))

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout_s: float) -> None:
        """Wait until ``text`` appears in the log; AssertionError with the log tail otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in log of {self.args[3:]}:\n{self.log_text()[-3000:]}")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, wait, and return the exit code (SIGKILL after ``timeout_s``, then -9)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


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


