"""What the bridge did, counted by the bridge loop (one task, no locking needed)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BridgeCounters"]


@dataclass
class BridgeCounters:
    """Totals since start; logged every ``stats_interval`` and on exit.

    ``frames_in`` counts every MQTT message taken in (data, alarm and status);
    ``frames_ok`` the valid data frames forwarded. ``*_out`` count records Kafka
    acknowledged, by topic; ``deadletter`` counts rejected MQTT messages by reason
    (acknowledged or not). ``duplicates`` are frames and alarms dropped as repeats;
    ``late`` those forwarded although their seq had been reported as a gap;
    ``gaps``/``gap_seqs`` the gap events raised and the seqs they cover.
    """

    frames_in: int = 0
    frames_ok: int = 0
    records_out: int = 0
    readings_out: int = 0
    deadletter: Counter[str] = field(default_factory=Counter)
    deadletter_out: int = 0
    alarms_in: int = 0
    alarms_out: int = 0
    status_in: int = 0
    duplicates: int = 0
    late: int = 0
    seq_resets: int = 0
    gaps: int = 0
    gap_seqs: int = 0
    events_out: int = 0
    state_out: int = 0
    #: Records whose produce failed and were retried.
    produce_retries: int = 0
    #: Records given up on (too large for Kafka, or still failing at shutdown); each is logged.
    produce_lost: int = 0

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        doc = asdict(self)
        doc["deadletter"] = dict(sorted(self.deadletter.items()))
        return doc
