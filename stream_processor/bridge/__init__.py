"""MQTT -> Kafka bridge: frames in, one ``readings`` record per device out, bad payloads to ``deadletter``.

Run it with ``parkwatch bridge``; embed it with :class:`Bridge`.
"""

from __future__ import annotations

from stream_processor.bridge.config import BridgeConfig
from stream_processor.bridge.counters import BridgeCounters
from stream_processor.bridge.routing import OutgoingRecord, Routed, route_message
from stream_processor.bridge.service import Bridge

__all__ = ["Bridge", "BridgeConfig", "BridgeCounters", "OutgoingRecord", "Routed", "route_message"]
