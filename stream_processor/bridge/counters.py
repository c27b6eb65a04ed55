"""What the bridge did, counted by the bridge loop (one task, no locking needed)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BridgeCounters"]


@dataclass
class BridgeCounters:
    """Totals since start; logged every ``stats_interval`` and on exit.

    ``records_out``/``readings_out`` count readings records Kafka acknowledged;
    ``deadletter`` counts rejected MQTT messages by reason (acknowledged or not).
    """

    frames_in: int = 0
    frames_ok: int = 0
    records_out: int = 0
    readings_out: int = 0
    deadletter: Counter[str] = field(default_factory=Counter)
    deadletter_out: int = 0
    #: Records whose produce failed and were retried.
    produce_retries: int = 0
    #: Records given up on (too large for Kafka, or still failing at shutdown); each is logged.
    produce_lost: int = 0

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "frames_in": self.frames_in,
            "frames_ok": self.frames_ok,
            "records_out": self.records_out,
            "readings_out": self.readings_out,
            "deadletter": dict(sorted(self.deadletter.items())),
            "deadletter_out": self.deadletter_out,
            "produce_retries": self.produce_retries,
            "produce_lost": self.produce_lost,
        }
