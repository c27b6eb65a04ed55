"""Response bodies of the HTTP API (pydantic models; they are the OpenAPI schemas).

The alert fields mirror :class:`parkwatch.wire.alerts.AlertEvent`: an alert as
served is the newest event of its id.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud_api.alerts_consumer import ConsumerState
from parkwatch.wire.alerts import AlertState, Severity

__all__ = ["Alert", "AlertHistoryItem", "AlertDetail", "AlertList", "ConsumerHealth", "Health"]


class Alert(BaseModel):
    """An alert as of its newest state change."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Deterministic incident id; every state change of the alert carries it.")
    state: AlertState
    kind: str = Field(description='What raised it, e.g. "anomaly" or "threshold".')
    rule: str
    severity: Severity
    site: str
    gateway: str
    device: str
    point: str
    started_ms: int = Field(description="When the incident started, Unix epoch milliseconds.")
    updated_ms: int = Field(description="When this state was reached, Unix epoch milliseconds.")
    value: float | None
    score: float | None = Field(description="Anomaly score; higher means more anomalous.")
    expected_low: float | None
    expected_high: float | None
    message: str


class AlertHistoryItem(BaseModel):
    """One state change of an alert."""

    model_config = ConfigDict(from_attributes=True)

    state: AlertState
    severity: Severity
    updated_ms: int
    value: float | None
    score: float | None
    message: str


class AlertDetail(Alert):
    """An alert with every state change it went through, oldest first."""

    history: list[AlertHistoryItem]


class AlertList(BaseModel):
    """One page of alerts, newest (by ``started_ms``) first."""

    items: list[Alert]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
    total: int = Field(description="How many alerts match the filters, over all pages.")


class ConsumerHealth(BaseModel):
    """The alerts consumer's state and counters since the process started."""

    state: ConsumerState
    connected: bool = Field(description="Joined the consumer group on the `alerts` topic.")
    events_consumed: int = Field(description="Valid alert events applied to the store.")
    events_malformed: int = Field(description="Records on the topic that were not valid alert events.")
    events_duplicate: int = Field(description="Valid events already stored (redeliveries, replays).")
    last_error: str | None


class Health(BaseModel):
    """Liveness: answered whenever the process is up; `degraded` while the consumer is not connected."""

    status: Literal["ok", "degraded"]
    consumer: ConsumerHealth
