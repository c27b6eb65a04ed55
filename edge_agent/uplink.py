"""The gateway's MQTT uplink: frames out at QoS 1, acknowledgements counted, status retained.

:class:`Uplink` wraps one paho-mqtt 2.x client (network thread via
``loop_start``) and is usable on its own, e.g. by a throughput benchmark that
builds frames itself::

    uplink = Uplink(load_settings(), "north", "gw-01")
    uplink.start()
    uplink.wait_connected(10)
    for frame in frames:
        uplink.publish(frame)          # returns at once unless the in-flight window is full
    uplink.flush(30)                   # True once every published frame is acknowledged
    uplink.stop()                      # flush, retained "offline" status with counters, disconnect
    print(uplink.readings_acked)

Contract:

- ``publish`` is thread-safe. It encodes the frame on the caller's thread,
  hands it to paho and returns; it blocks only while ``max_in_flight``
  frames await their PUBACK (back-pressure), for at most ``timeout_s``
  (``None``: as long as it takes), then raises
  :class:`~parkwatch.errors.OutboxError` and counts the frame as dropped.
- A frame counts as *acknowledged* when the broker's PUBACK for it arrives
  (paho's ``on_publish`` with its mid). While disconnected, frames queue in
  paho and are sent again after the reconnect, so a frame can be delivered
  twice but is never counted as acknowledged without a PUBACK.
- Status: on every (re)connect a retained ``online`` message goes to
  ``parkwatch/<site>/<gateway>/status``; the last will, registered with the
  broker, publishes a retained ``offline`` one if the gateway vanishes;
  ``stop()`` publishes the final retained ``offline`` with the final
  counters. Payload, JSON::

      {"v": 1, "state": "online" | "offline", "site": "north", "gateway": "gw-01",
       "ts_ms": 1764189600123, "counters": {"frames_published": 10, "readings_published": 230,
       "frames_acked": 10, "readings_acked": 230, "frames_dropped": 0, "frames_rejected": 0,
       "connects": 1, ...}}

  A last will's ``ts_ms`` and ``counters`` are those of when it was last
  registered (at connect, refreshed after each disconnect): the broker sends
  it later, on the gateway's behalf.
- Reconnects use paho's exponential backoff between ``reconnect_min_s`` and
  ``reconnect_max_s``.
- A connection that fails never ends anything: the uplink keeps retrying and
  the outbox keeps filling. Failures are counted and the cause kept in
  :attr:`Uplink.last_connect_error`: ``connect_refusals`` when the broker
  answered and said no (wrong username or password, not authorised),
  ``connect_failures`` when no MQTT session came about at all (nothing
  listening, TLS handshake failed: untrusted broker certificate, client
  certificate missing or refused). Both are logged with the cause (the
  first time, then every 10th) and are in the status counters.

Per-frame work is one JSON encode, one paho call and a dict insert under a
lock, so a frame of thousands of readings costs about as much as its
encoding. The agent puts the durable outbox (:mod:`edge_agent.outbox`) in
front of it: :mod:`edge_agent.sender` publishes stored records with a
``token`` and deletes them in ``on_settled``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.uplink_auth import UplinkAuth
from parkwatch.errors import FrameError, OutboxError
from parkwatch.settings import Settings
from parkwatch.wire.frames import MAX_FRAME_BYTES, Frame, encode_frame
from parkwatch.wire.topics import mqtt_topic

__all__ = ["STATUS_VERSION", "Uplink"]

STATUS_VERSION = 1

log = logging.getLogger(__name__)


class Uplink:
    """Publishes frames for one gateway and counts what the broker acknowledged."""

    def __init__(
        self,
        settings: Settings,
        site: str,
        gateway: str,
        *,
        client_id: str | None = None,
        max_in_flight: int = 1000,
        keepalive_s: float = 30.0,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        extra_counters: Callable[[], Mapping[str, int]] | None = None,
        on_settled: Callable[[object, bool], None] | None = None,
        auth: UplinkAuth | None = None,
    ) -> None:
        """Connects to ``settings.mqtt_host:mqtt_port`` once :meth:`start` is called.

        ``client_id`` defaults to ``parkwatch-edge-<site>-<gateway>``: one
        connection per gateway, so a second agent for the same gateway takes
        over from the first. ``max_in_flight`` bounds frames awaiting PUBACK.
        ``extra_counters`` adds the caller's counters (e.g. device polls) to
        every status message. ``on_settled(token, acked)`` is called on paho's
        network thread for every message published with a ``token`` once its
        PUBACK arrives (``acked`` False when the broker refused it); the outbox
        deletes its records there. ``auth`` adds username/password and TLS.
        """
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.site = site
        self.gateway = gateway
        self.settings = settings
        self.max_in_flight = max_in_flight
        self.keepalive_s = keepalive_s
        self.data_topic = mqtt_topic(site, gateway, "data")
        self.status_topic = mqtt_topic(site, gateway, "status")
        self._extra_counters = extra_counters

        self._cond = threading.Condition()
        # mid -> readings of a frame awaiting PUBACK; status mids awaiting PUBACK; PUBACKs that
        # arrived before publish() registered their mid (paho's network thread can be that fast).
        self._pending: dict[int, tuple[int, object]] = {}
        self._pending_status: set[int] = set()
        self._early_acks: dict[int, bool] = {}
        self._on_settled = on_settled
        self._in_flight = 0
        self._stopping = False
        self._started = False
        self.frames_published = 0
        self.readings_published = 0
        self.frames_acked = 0
        self.readings_acked = 0
        self.frames_dropped = 0
        self.frames_rejected = 0
        self.connects = 0
        self.connect_refusals = 0
        self.connect_failures = 0
        #: Why the last connection attempt failed (``None`` once connected).
        self.last_connect_error: str | None = None
        self._connack = False  # the broker answered the current connection attempt

        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"parkwatch-edge-{site}-{gateway}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        # Status messages are in flight too; leave them room beside a full window of frames.
        self._client.max_inflight_messages_set(max_in_flight + 8)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_connect_fail = self._on_connect_fail
        if auth is not None:
            auth.apply(self._client)
        self._set_will()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; returns at once. Frames published before the
        connection is up wait in paho's queue."""
        if self._started:
            raise RuntimeError("Uplink already started")
        self._started = True
        self._client.connect_async(
            self.settings.mqtt_host, self.settings.mqtt_port, keepalive=int(self.keepalive_s)
        )
        self._client.loop_start()

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until connected (and the birth status is sent) or ``timeout_s`` passes."""
        with self._cond:
            return self._cond.wait_for(lambda: self.connects > 0 and self.connected, timeout=timeout_s)

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected())

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Flush, publish the final retained ``offline`` status with counters, disconnect.

        Waits at most about ``timeout_s`` for acknowledgements; returns whether
        every frame was acknowledged. Idempotent.
        """
        if not self._started:
            return self._in_flight == 0
        deadline = time.monotonic() + timeout_s
        flushed = self.flush(timeout_s)
        if self.connected:
            mid = self._publish_status("offline")
            if mid is not None:
                with self._cond:
                    self._cond.wait_for(
                        lambda: mid not in self._pending_status, timeout=max(0.5, deadline - time.monotonic())
                    )
        with self._cond:
            self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._started = False
        log.info(
            "uplink %s/%s stopped: %d frames (%d readings) acknowledged, %d dropped",
            self.site,
            self.gateway,
            self.frames_acked,
            self.readings_acked,
            self.frames_dropped,
        )
        return flushed

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, frame: Frame, timeout_s: float | None = None) -> None:
        """Send ``frame`` at QoS 1; see the module docstring for blocking and errors.

        Raises :class:`~parkwatch.errors.FrameError` (``oversize``) for a frame
        larger than the wire contract allows, and :class:`OutboxError` when the
        window stays full for ``timeout_s`` or paho refuses the message.
        """
        payload = encode_frame(frame)
        if len(payload) > MAX_FRAME_BYTES:
            raise FrameError("oversize", f"frame seq {frame.seq}: {len(payload)} bytes > {MAX_FRAME_BYTES}")
        self.publish_encoded(payload, frame.reading_count, timeout_s)

    def publish_encoded(
        self,
        payload: bytes,
        reading_count: int,
        timeout_s: float | None = None,
        *,
        topic: str | None = None,
        token: object = None,
    ) -> None:
        """:meth:`publish` for a payload already made by :func:`~parkwatch.wire.frames.encode_frame`.

        ``topic`` defaults to the data topic (the outbox sends alarms to the
        alarm topic). A ``token`` is handed back to ``on_settled`` with the PUBACK.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight < self.max_in_flight, timeout=timeout_s):
                self.frames_dropped += 1
                raise OutboxError(f"uplink window full: {self._in_flight} frames await acknowledgement")
            self._in_flight += 1  # reserve the slot before paho may ack it
        info = self._client.publish(topic or self.data_topic, payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            with self._cond:
                self._in_flight -= 1
                self.frames_dropped += 1
                self._cond.notify_all()
            raise OutboxError(f"MQTT publish refused: {mqtt.error_string(info.rc)}")
        with self._cond:
            self.frames_published += 1
            self.readings_published += reading_count
            if info.mid in self._early_acks:
                self._settle(reading_count, token, rejected=self._early_acks.pop(info.mid))
            else:
                self._pending[info.mid] = (reading_count, token)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every published frame is acknowledged; ``False`` if ``timeout_s`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout=timeout_s)

    # -- counters -------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Frames published and not yet acknowledged."""
        return self._in_flight

    def counters(self) -> dict[str, int]:
        """Uplink counters plus the caller's ``extra_counters``."""
        counters = {
            "frames_published": self.frames_published,
            "readings_published": self.readings_published,
            "frames_acked": self.frames_acked,
            "readings_acked": self.readings_acked,
            "frames_dropped": self.frames_dropped,
            "frames_rejected": self.frames_rejected,
            "connects": self.connects,
            "connect_refusals": self.connect_refusals,
            "connect_failures": self.connect_failures,
        }
        if self._extra_counters is not None:
            counters.update(self._extra_counters())
        return counters

    def status_payload(self, state: Literal["online", "offline"]) -> bytes:
        doc: dict[str, Any] = {
            "v": STATUS_VERSION,
            "state": state,
            "site": self.site,
            "gateway": self.gateway,
            "ts_ms": time.time_ns() // 1_000_000,
            "counters": self.counters(),
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    # -- paho callbacks (network thread) --------------------------------------------------------

    def _settle(self, reading_count: int, token: object, *, rejected: bool) -> None:
        """Account one frame's PUBACK; caller holds ``self._cond``."""
        if token is not None and self._on_settled is not None:
            self._on_settled(token, not rejected)
        self._in_flight -= 1
        if rejected:
            self.frames_rejected += 1
        else:
            self.frames_acked += 1
            self.readings_acked += reading_count
        self._cond.notify_all()

    def _set_will(self) -> None:
        self._client.will_set(self.status_topic, self.status_payload("offline"), qos=1, retain=True)

    def refresh_status(self) -> None:
        """Publish the retained ``online`` status again with the current counters (if connected)."""
        if self.connected:
            self._publish_status("online")

    def _publish_status(self, state: Literal["online", "offline"]) -> int | None:
        info = self._client.publish(self.status_topic, self.status_payload(state), qos=1, retain=True)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.warning("status %s not sent: %s", state, mqtt.error_string(info.rc))
            return None
        with self._cond:
            if info.mid in self._early_acks:
                del self._early_acks[info.mid]
            else:
                self._pending_status.add(info.mid)
        return info.mid

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Any
    ) -> None:
        with self._cond:
            self._connack = True
        if reason_code.is_failure:
            with self._cond:
                self.connect_refusals += 1
                count = self.connect_refusals
                self.last_connect_error = f"broker refused the connection: {reason_code}"
            if count == 1 or count % 10 == 0:
                log.error(
                    "MQTT %s:%d refused the connection (%d times): %s; check uplink.auth",
                    self.settings.mqtt_host,
                    self.settings.mqtt_port,
                    count,
                    reason_code,
                )
            return
        with self._cond:
            self.connects += 1
            self.last_connect_error = None
        log.info("MQTT connected to %s:%d", self.settings.mqtt_host, self.settings.mqtt_port)
        self._publish_status("online")
        with self._cond:
            self._cond.notify_all()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this inside its ``except OSError`` around the connect, so the cause
        # (refused socket, ssl.SSLCertVerificationError, ...) is the exception being handled.
        exc = sys.exc_info()[1]
        self._count_failure(f"{type(exc).__name__}: {exc}" if exc is not None else "unknown cause")

    def _count_failure(self, cause: str) -> None:
        with self._cond:
            self.connect_failures += 1
            count = self.connect_failures
            self.last_connect_error = f"cannot connect: {cause}"
        if count == 1 or count % 10 == 0:
            log.warning(
                "MQTT %s:%d: cannot connect (%d times): %s",
                self.settings.mqtt_host,
                self.settings.mqtt_port,
                count,
                cause,
            )

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Any
    ) -> None:
        with self._cond:
            stopping = self._stopping
            answered, self._connack = self._connack, False
        if stopping:
            return
        if not answered:
            # Closed before any CONNACK: with TLS 1.3 this is how a broker refuses a missing or
            # untrusted client certificate (the handshake looked complete on our side).
            self._count_failure(f"connection closed before the broker answered ({reason_code}); "
                                "a TLS client certificate missing or refused?")  # fmt: skip
        else:
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)
        self._set_will()  # fresher counters for the will sent on the next connection's behalf

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Any
    ) -> None:
        with self._cond:
            pending = self._pending.pop(mid, None)
            if pending is not None:
                self._settle(pending[0], pending[1], rejected=reason_code.is_failure)
            elif mid in self._pending_status:
                self._pending_status.discard(mid)
                self._cond.notify_all()
            else:
                self._early_acks[mid] = reason_code.is_failure
