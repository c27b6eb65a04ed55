"""Response bodies of the HTTP API (pydantic models; they are the OpenAPI schemas).

The alert fields mirror :class:`parkwatch.wire.alerts.AlertEvent`: an alert as
served is the newest event of its id.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud_api.alerts_consumer import ConsumerState
from parkwatch.wire.alerts import AlertState, Severity
from parkwatch.wire.rules import RULE_ID_PATTERN, Rule, RuleSpec

__all__ = [
    "Alert",
    "AlertHistoryItem",
    "AlertDetail",
    "AlertList",
    "ConsumerHealth",
    "Health",
    "AlertActionItem",
    "AlertWorkflowDetail",
    "CommentBody",
    "RequiredCommentBody",
    "ShelveBody",
    "AssignBody",
    "MaintenanceWindowBody",
    "MaintenanceWindow",
    "MaintenanceWindowList",
    "AuditItem",
    "AuditList",
    "Me",
    "Site",
    "SiteList",
    "PointStatus",
    "PointList",
    "HistoryBucket",
    "PointHistory",
    "RuleBody",
    "RollbackBody",
    "RuleList",
]


class Alert(BaseModel):
    """An alert as of its newest state change."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Deterministic incident id; every state change of the alert carries it.")
    state: AlertState
    kind: str = Field(description='What raised it, e.g. "anomaly", "limit" or "flood" (an incident).')
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
    group: str | None = Field(description="Id of the flood incident (an alert of kind `flood`) it is in.")
    escalation: int = Field(description="How often it was escalated for staying unacknowledged.")


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
    """A consumer's state and counters since the process started."""

    state: ConsumerState
    connected: bool = Field(description="Reading its topic (`alerts` or `gateway-events`).")
    events_consumed: int = Field(description="Valid events applied to the store.")
    events_malformed: int = Field(description="Records on the topic that were not valid events.")
    events_duplicate: int = Field(description="Valid events already stored (redeliveries, replays).")
    last_error: str | None


class Health(BaseModel):
    """Liveness: answered whenever the process is up; `degraded` while the consumer is not connected."""

    status: Literal["ok", "degraded"]
    consumer: ConsumerHealth = Field(description="The `alerts` consumer; `status` follows it.")
    gateway_events: ConsumerHealth | None = Field(
        default=None, description="The `gateway-events` consumer (data gaps, gateways offline)."
    )


# -- alert workflow ------------------------------------------------------------------------------


class AlertActionItem(BaseModel):
    """Something an operator did to an alert, with who and when."""

    model_config = ConfigDict(from_attributes=True)

    at_ms: int
    actor: str
    action: str = Field(description="acknowledge, resolve, shelve, unshelve, assign, comment, suppress")
    comment: str | None
    assignee: str | None
    until_ms: int | None = Field(description="For shelve: when the shelf time ends.")


class AlertWorkflowDetail(AlertDetail):
    """An alert with its history, operator actions, assignee and shelf time."""

    classification: str = Field(description="public, internal or sensitive (of the alert's point).")
    masked: bool = Field(
        description="Values and messages are hidden: sensitive point, role without clearance."
    )
    assignee: str | None
    shelved_until_ms: int | None
    actions: list[AlertActionItem]


_COMMENT = Field(default=None, min_length=1, max_length=2000, description="Why; kept in the alert's actions.")


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = _COMMENT


class RequiredCommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=2000)


class ShelveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until_ms: int = Field(
        ge=0, le=2**63 - 1, description="When the shelf time ends (epoch ms); ≤ 7 days ahead."
    )
    comment: str | None = _COMMENT


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$", description="User name.")
    comment: str | None = _COMMENT


# -- maintenance, audit, identity ----------------------------------------------------------------

_ID = r"^[A-Za-z0-9_.-]{1,64}$"


class MaintenanceWindowBody(BaseModel):
    """A scope (site, optionally narrowed to a gateway, device or point) and a time range."""

    model_config = ConfigDict(extra="forbid")

    site: str = Field(pattern=_ID)
    gateway: str | None = Field(default=None, pattern=_ID)
    device: str | None = Field(default=None, pattern=_ID)
    point: str | None = Field(default=None, pattern=_ID)
    from_ms: int = Field(ge=0, le=2**63 - 1)
    until_ms: int = Field(ge=0, le=2**63 - 1)
    reason: str = Field(min_length=1, max_length=2000)


class MaintenanceWindow(MaintenanceWindowBody):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_by: str
    created_ms: int
    suppressed: int = Field(default=0, description="Alerts suppressed when the window was created.")


class MaintenanceWindowList(BaseModel):
    items: list[MaintenanceWindow]
    next_cursor: str | None
    total: int


class AuditItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at_ms: int
    actor: str
    role: str
    action: str = Field(description="e.g. alert.acknowledge, maintenance.create, sensitive.read")
    target: str
    detail: dict[str, object]


class AuditList(BaseModel):
    items: list[AuditItem]
    next_cursor: str | None
    total: int


class Me(BaseModel):
    name: str
    role: str
    sites: list[str] | None = Field(description="Sites this caller may see; null: every site.")
    cleared: bool = Field(description="Sees sensitive values unmasked.")


# -- registry ------------------------------------------------------------------------------------


class Site(BaseModel):
    site: str
    gateways: list[str]
    devices: int
    points: int


class SiteList(BaseModel):
    items: list[Site]
    next_cursor: str | None
    total: int


class PointStatus(BaseModel):
    site: str
    gateway: str
    device: str
    point: str
    unit: str
    description: str
    profile: str | None
    classification: str
    masked: bool = Field(description="`value` is hidden: sensitive point, role without clearance.")
    status: Literal["ok", "stale", "no_data", "bad"] = Field(
        description="ok: good quality, recent; stale: nothing recent; bad: last quality not good."
    )
    ts_ms: int | None
    value: float | None
    quality: str | None


class PointList(BaseModel):
    items: list[PointStatus]
    next_cursor: str | None
    total: int


class HistoryBucket(BaseModel):
    t_ms: int = Field(description="Start of the bucket (epoch ms).")
    mean: float | None
    min: float | None
    max: float | None
    count: int


class PointHistory(BaseModel):
    site: str
    gateway: str
    device: str
    point: str
    from_ms: int
    to_ms: int
    interval_ms: int = Field(
        description="Bucket width, chosen so the range has at most 500 buckets. Buckets start at "
        "multiples of it and each aggregates its whole interval, so the first and last may include "
        "readings just outside the range."
    )
    masked: bool
    buckets: list[HistoryBucket]


# -- monitoring rules ----------------------------------------------------------------------------


class RuleBody(RuleSpec):
    """A new rule: its id and what an author writes (see `parkwatch.wire.rules`)."""

    id: str = Field(pattern=RULE_ID_PATTERN, description="Lower case letters, digits, `_.-`; ≤ 64.")


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1, description="The version whose content becomes the next one.")


class RuleList(BaseModel):
    items: list[Rule]
    next_cursor: str | None
    total: int
