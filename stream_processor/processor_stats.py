"""What the worker did, counted by its agent and logged by a timer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ProcessorStats"]


@dataclass
class ProcessorStats:
    """Totals since the worker started (this process only)."""

    records: int = 0
    readings: int = 0
    scored: int = 0
    alerts_opened: int = 0
    alerts_resolved: int = 0
    #: Records that could not be decoded or processed; each is logged with its key.
    records_failed: int = 0
    #: Changelog writes of device state (throttled by ``state_save_interval``).
    state_saves: int = 0
    #: ``reading_1m`` points written (one per point per closed minute).
    minute_aggregates: int = 0

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)
