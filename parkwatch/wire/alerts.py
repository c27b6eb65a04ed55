"""Alert events on the Kafka ``alerts`` topic (key = alert id).

Every alert and every change of its state is one event; consumers (the cloud
API) upsert by ``id`` and keep the newest ``updated_ms``. Ids are derived from
what the incident is, never random, so a replayed backlog or a restarted
worker re-emits the same id instead of a duplicate alert::

    {"v": 1, "id": "3f2a...", "state": "open", "kind": "anomaly", "rule": "anomaly_score",
     "severity": "warning", "site": "north", "gateway": "gw-01", "device": "gas-01",
     "point": "ch4", "started_ms": 1764189600000, "updated_ms": 1764189600000,
     "value": 87.1, "score": 0.998, "expected_low": 10.2, "expected_high": 14.9,
     "message": "ch4 = 87.1, expected 10.2..14.9"}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Final, Literal

__all__ = ["ALERT_VERSION", "AlertState", "Severity", "AlertEvent", "alert_id"]

ALERT_VERSION: Final = 1
AlertState = Literal["open", "acknowledged", "resolved", "shelved", "suppressed"]
Severity = Literal["info", "warning", "critical"]


def alert_id(site: str, gateway: str, device: str, point: str, rule: str, started_ms: int) -> str:
    """Deterministic id of one incident: the same sensor, rule and start give the same id.

    >>> alert_id("north", "gw-01", "gas-01", "ch4", "anomaly_score", 1764189600000)
    '44387c5e46e96a6e76ab5323'
    """
    text = f"{site}/{gateway}/{device}/{point}/{rule}/{started_ms}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(slots=True)
class AlertEvent:
    """One alert, as of one state change."""

    id: str
    state: AlertState
    kind: str
    rule: str
    severity: Severity
    site: str
    gateway: str
    device: str
    point: str
    started_ms: int
    updated_ms: int
    value: float | None
    score: float | None
    expected_low: float | None
    expected_high: float | None
    message: str

    def encode(self) -> bytes:
        return json.dumps({"v": ALERT_VERSION, **asdict(self)}, allow_nan=False).encode()

    @classmethod
    def decode(cls, data: bytes) -> AlertEvent:
        doc = json.loads(data)
        if doc.pop("v", None) != ALERT_VERSION:
            raise ValueError("unknown alert event version")
        return cls(**doc)
