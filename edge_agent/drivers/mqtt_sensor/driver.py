"""MQTT sensor push driver: JSON messages on a local broker become readings.

Contract: :class:`~edge_agent.drivers.base.PushDriver`. paho runs its
network loop in its own thread (``loop_start``); every message is handed to
the event loop with ``call_soon_threadsafe`` and parsed and delivered there,
so the sink is only ever called on the loop. paho reconnects by itself
(1 s doubling to ``max_backoff``) and the subscriptions are renewed on every
(re)connect.

A message that is not a JSON object, lacks a configured timestamp or holds
none of the points is counted in ``counters.parse_errors``, logged (the
first, then every 100th) and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import paho.mqtt.client as mqtt

from edge_agent.drivers.base import DeviceConfig, MessageCounters, ProfileLibrary, ReadingsSink
from edge_agent.drivers.mqtt_sensor.config import MqttSensorConfig
from edge_agent.drivers.mqtt_sensor.payload import PayloadError, PayloadMapper
from edge_agent.drivers.registry import register
from parkwatch.errors import DeviceError

__all__ = ["MqttSensorDriver"]

log = logging.getLogger(__name__)


@register("mqtt_sensor", MqttSensorConfig)
class MqttSensorDriver:
    """Subscribes to a sensor's topics and maps each message's JSON to readings."""

    def __init__(self, config: DeviceConfig, profiles: ProfileLibrary) -> None:
        if not isinstance(config, MqttSensorConfig):
            raise TypeError(f"MqttSensorDriver needs a MqttSensorConfig, got {type(config).__name__}")
        self.config = config
        self.mapper = PayloadMapper(config)
        self._counters = MessageCounters()
        self._client: mqtt.Client | None = None
        self._sink: ReadingsSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed: asyncio.Future[None] | None = None

    @property
    def point_names(self) -> list[str]:
        return [p.name for p in self.config.points]

    @property
    def counters(self) -> MessageCounters:
        return self._counters

    @property
    def _where(self) -> str:
        c = self.config
        return f"device {c.id} (mqtt://{c.host}:{c.port})"

    async def start(self, sink: ReadingsSink) -> None:
        """Connect, subscribe, and return once the broker has granted the subscriptions."""
        if self._client is not None:
            return
        c = self.config
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        self._subscribed = self._loop.create_future()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"parkwatch-{c.id}")
        client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(c.max_backoff_s)))
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        try:
            client.connect_async(c.host, c.port, keepalive=30)
            client.loop_start()
            await asyncio.wait_for(asyncio.shield(self._subscribed), timeout=c.timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            await self.stop()
            raise DeviceError(f"{self._where}: cannot subscribe to {', '.join(c.topics)}: {exc!r}") from exc

    async def stop(self) -> None:
        client, self._client = self._client, None
        self._sink = None
        if client is None:
            return
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)

    # -- paho thread ----------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("%s: broker refused connection: %s", self._where, reason)
            return
        client.subscribe([(topic, int(self.config.qos)) for topic in self.config.topics])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            log.warning("%s: subscription refused: %s", self._where, ", ".join(failed))
        if self._loop is not None and not failed:
            self._loop.call_soon_threadsafe(self._mark_subscribed)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        arrival_ms = time.time_ns() // 1_000_000
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._deliver, message.topic, message.payload, arrival_ms)

    # -- event loop -----------------------------------------------------------------------------

    def _mark_subscribed(self) -> None:
        if self._subscribed is not None and not self._subscribed.done():
            self._subscribed.set_result(None)

    def _deliver(self, topic: str, payload: bytes | bytearray, arrival_ms: int) -> None:
        if self._sink is None:
            return
        self._counters.messages += 1
        try:
            readings = self.mapper.map(payload, arrival_ms)
        except PayloadError as exc:
            self._counters.parse_errors += 1
            n = self._counters.parse_errors
            if n == 1 or n % 100 == 0:
                log.warning("%s: message on %s skipped: %s (%d so far)", self._where, topic, exc, n)
            return
        self._counters.readings += len(readings)
        self._sink(readings)
