"""The MQTT side of the bridge: a paho-mqtt 2.x subscriber feeding an :class:`Inbox`.

paho runs its network loop in its own thread and reconnects by itself
(``connect_async`` + ``loop_start``), re-subscribing in ``on_connect``; a broker
that is down at start is therefore not an error, only a logged wait.

Acknowledgements are manual (``manual_ack=True``): a QoS 1 message is PUBACKed
only in :meth:`MqttSource.settle`, which the bridge calls once everything
derived from it is acknowledged by Kafka. With ``session: persistent`` (clean
session off, a stable client id) the broker keeps every unacknowledged message
and everything published meanwhile for this client id, and sends them again
when a bridge with that id connects: a killed bridge loses nothing.

Message ids are per connection: after a reconnect the broker re-sends the
unacknowledged messages under new ids, so a settle of messages received on an
older connection sends no PUBACK (it could acknowledge an unrelated message
that reuses the id); the re-sent copies are settled instead.
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
    """One MQTT message as received; ``mid`` and ``connection`` identify it for the acknowledgement."""

    topic: str
    payload: bytes
    received_ms: int
    mid: int
    qos: int
    connection: int = 0


class MqttSource:
    """Subscribes to every gateway's ``data``, ``alarm`` and ``status`` channels, feeding the inbox.

    All three use the share group when one is configured, so each message goes
    to one bridge of the group.
    """

    def __init__(self, settings: Settings, config: BridgeConfig, inbox: Inbox[InboundMessage]) -> None:
        self._settings = settings
        self._config = config
        self._inbox = inbox
        self.subscriptions = [mqtt_subscription(channel, config.share_group)
                              for channel in ("data", "alarm", "status")]
        #: Bumped on every successful connect, in paho's thread (read under the GIL).
        self._connection = 0
        self._paused = False
        #: Set once the broker granted the subscription (tests wait on it).
        self.subscribed = threading.Event()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            clean_session=config.session == "clean",
            protocol=mqtt.MQTTv311,
            manual_ack=True,
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

    def pause(self) -> None:
        """Take no more messages: later ones stay unacknowledged for the next session."""
        self._paused = True

    def settle(self, messages: list[InboundMessage]) -> None:
        """Acknowledge ``messages`` to the broker; call once Kafka has everything derived from them.

        Called from the event loop's thread; paho's ``ack`` only queues a PUBACK
        packet under paho's own lock. Messages from an older connection are
        skipped (see the module docstring); QoS 0 needs no acknowledgement.
        """
        current = self._connection
        for msg in messages:
            if msg.qos > 0 and msg.connection == current:
                self._client.ack(msg.mid, msg.qos)

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
        self._connection += 1
        topics: list[tuple[str, int]] = [(topic, self._config.qos) for topic in self.subscriptions]
        client.subscribe(topics)

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
            log.error("MQTT subscriptions %s refused: %s", self.subscriptions, reasons)
            return
        log.info("subscribed to %s", " ".join(self.subscriptions))
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._paused:
            return
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(msg._topic)  # not UTF-8: kept readable for the dead letter
        received_ms = time.time_ns() // 1_000_000
        self._inbox.put(
            InboundMessage(topic, bytes(msg.payload), received_ms, msg.mid, msg.qos, self._connection)
        )
