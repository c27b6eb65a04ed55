"""MQTT -> Kafka bridge, at least once.

Frames in, one ``readings`` record per device out; alarms to ``alarms``; seq
gaps, repeats and gateway status changes to ``gateway-events``; bad payloads
to ``deadletter``. MQTT messages are acknowledged only after Kafka has
everything derived from them. Run it with ``parkwatch bridge``; embed it with
:class:`Bridge`. Delivery guarantees: ``stream_processor/README.md``.
"""

from __future__ import annotations

from stream_processor.bridge.config import BridgeConfig
from stream_processor.bridge.counters import BridgeCounters
from stream_processor.bridge.routing import OutgoingRecord, Routed, route_message
from stream_processor.bridge.service import Bridge

__all__ = ["Bridge", "BridgeConfig", "BridgeCounters", "OutgoingRecord", "Routed", "route_message"]
