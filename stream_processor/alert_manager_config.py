"""Configuration of the alert manager (``alert_manager:`` in the worker's YAML).

Flood control counts alerts by their *event* time (when the readings said
something was wrong); escalation and the quiet period count *wall-clock* time
(how long people have had the alert in front of them). See
:mod:`stream_processor.alert_manager`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from parkwatch.durations import Duration

__all__ = ["AlertManagerConfig"]


class AlertManagerConfig(BaseModel):
    """Flood control and escalation of the alerts on the ``alerts`` topic.

    >>> AlertManagerConfig.model_validate({"escalate_after": None, "flood_window": "5m"}).flood_window_s
    300.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: This many alerts opened at one site within ``flood_window`` (ISA-18.2: 10 in 10 min
    #: per operator) open one ``flood`` incident that groups them.
    flood_threshold: int = Field(default=10, ge=2)
    #: Event time of the alerts (their ``started_ms``).
    flood_window_s: Duration = Field(default=600.0, alias="flood_window")
    #: An incident whose site opened no new alert for this long (wall clock) resolves, even
    #: with members still open (it also resolves as soon as all its members are resolved).
    flood_quiet_s: Duration = Field(default=600.0, alias="flood_quiet")
    #: An ``open`` alert nobody acknowledged for this long (wall clock since it opened) is
    #: escalated: severity one step up, ``escalation`` + 1; again every ``escalate_after``.
    #: ``null`` turns escalation off.
    escalate_after_s: Duration | None = Field(default=900.0, alias="escalate_after")
    #: Escalations per alert at most.
    max_escalations: int = Field(default=3, ge=1, le=1000)
    #: How often the owner of the ``alerts`` partition looks for escalations and quiet floods.
    check_interval_s: Duration = Field(default=5.0, alias="check_interval")
    #: A resolved alert is kept this long (wall clock) so that late or replayed events of it
    #: are recognised, then dropped from the manager's state.
    forget_after_s: Duration = Field(default=86400.0, alias="forget_after")
