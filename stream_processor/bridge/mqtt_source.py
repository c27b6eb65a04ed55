"""The MQTT side of the bridge: a paho-mqtt 2.x subscriber feeding an :class:`Inbox`.

paho runs its network loop in its own thread and reconnects by itself
(``connect_async`` + ``loop_start``), re-subscribing in ``on_connect``; a broker
that is down at start is therefore not an error, only a logged wait. QoS 1
messages are acknowledged by paho when ``on_message`` returns, i.e. once they
are in the inbox, not yet in Kafka; :meth:`MqttSource.settle` is where manual
acknowledgements after the Kafka ack will go.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from parkwatch.settings import Settings
from parkwatch.wire.topics import mqtt_subscription
from stream_processor.bridge.config import BridgeConfig
from stream_processor.bridge.inbox import Inbox

__all__ = ["InboundMessage", "MqttSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One MQTT message as received; ``mid`` identifies it for a later acknowledgement."""

    topic: str
    payload: bytes
    received_ms: int
    mid: int
    qos: int


class MqttSource:
    """Subscribes to every gateway's ``data`` channel and puts each message in the inbox."""

    def __init__(self, settings: Settings, config: BridgeConfig, inbox: Inbox[InboundMessage]) -> None:
        self._settings = settings
        self._config = config
        self._inbox = inbox
        self.subscription = mqtt_subscription("data", config.share_group)
        #: Set once the broker granted the subscription (tests wait on it).
        self.subscribed = threading.Event()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            clean_session=config.session == "clean",
            protocol=mqtt.MQTTv311,
        )
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        """Connect in the background; returns at once."""
        self._client.connect_async(
            self._settings.mqtt_host, self._settings.mqtt_port, keepalive=round(self._config.keepalive_s)
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and join paho's thread (blocking: call it from a worker thread)."""
        self._client.disconnect()
        self._client.loop_stop()

    def settle(self, messages: list[InboundMessage]) -> None:
        """Called once every record derived from ``messages`` is in Kafka (or dead-lettered).

        Nothing to do while paho acknowledges on receipt; manual acks go here.
        """

    # -- paho callbacks, in paho's thread --------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT connect to %s:%s refused: %s", self._settings.mqtt_host,
                        self._settings.mqtt_port, reason)
            return
        log.info("MQTT connected to %s:%s as %s (session present: %s)", self._settings.mqtt_host,
                 self._settings.mqtt_port, self._config.client_id, flags.session_present)
        client.subscribe(self.subscription, qos=self._config.qos)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.subscribed.clear()
        if reason.is_failure:
            log.warning("MQTT connection lost (%s); paho reconnects", reason)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[Any], properties: Any
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error("MQTT subscription %s refused: %s", self.subscription, reasons)
            return
        log.info("subscribed to %s", self.subscription)
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(msg._topic)  # not UTF-8: kept readable for the dead letter
        received_ms = time.time_ns() // 1_000_000
        self._inbox.put(InboundMessage(topic, bytes(msg.payload), received_ms, msg.mid, msg.qos))
