"""Processor configuration (``parkwatch processor worker --config FILE``).

The schema is the only place that holds defaults. Everything is validated
before the worker connects anywhere: an unknown detector name or bad detector
parameters fail here, listing the known detectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from parkwatch.durations import Duration
from parkwatch.errors import ConfigError
from stream_processor.alert_manager_config import AlertManagerConfig
from stream_processor.detectors import DetectorBase, create_detector, detector_class
from stream_processor.sink.config import SinkConfig

__all__ = ["DetectorConfig", "AlertConfig", "RulesConfig", "KafkaTuning", "ProcessorConfig"]


class DetectorConfig(BaseModel):
    """Which detector every point gets, and its constructor arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "ensemble"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        try:
            detector_class(name)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return name

    @model_validator(mode="after")
    def _buildable(self) -> Self:
        try:
            create_detector(self.name, self.params)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    def create(self) -> DetectorBase:
        """A new, unlearned detector for one point."""
        return create_detector(self.name, self.params)


class AlertConfig(BaseModel):
    """The ``anomaly_score`` rule: when a point's alert opens and when it resolves.

    An alert opens at the first reading scoring ``>= open_score`` (critical from
    ``critical_score``) and resolves after ``clear_after`` consecutive scored
    readings below ``clear_score``; readings in between neither open nor count
    as normal (hysteresis against chattering).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    open_score: float = Field(default=0.9, gt=0.0, le=1.0)
    critical_score: float = Field(default=0.99, gt=0.0, le=1.0)
    clear_score: float = Field(default=0.5, gt=0.0, le=1.0)
    clear_after: int = Field(default=10, ge=1)
    #: A point whose alert resolved and fires again within this time (event time) reopens the
    #: same alert instead of opening a new one: one incident, not a chattering series. Applies
    #: to monitoring rules too. null turns it off.
    reopen_within_s: Duration | None = Field(default=600.0, alias="reopen_within")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.clear_score <= self.open_score <= self.critical_score:
            raise ValueError("need clear_score <= open_score <= critical_score")
        return self


class RulesConfig(BaseModel):
    """How the worker follows the ``rules`` topic and sweeps points for stale rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: Gateway configs giving each device's tags (its profile name) for rules scoped by tag.
    firmware_configs: Path = Path("firmware_configs")
    #: How long one fetch of the rules topic waits: a published rule is live after about this.
    poll_s: Duration = Field(default=0.5, alias="poll")
    #: How often the owned points are checked for stale data and removed rules.
    sweep_interval_s: Duration = Field(default=2.0, alias="sweep_interval")
    #: A partition this close to its end is live: stale rules compare with the wall clock. A
    #: partition further behind compares with the newest event time read from it, so a
    #: lagging worker does not call its backlog's devices stale.
    caught_up_records: int = Field(default=200, ge=0)


class KafkaTuning(BaseModel):
    """Consumer-group timing; short values make joins and rebalances take seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    session_timeout_s: Duration = Field(default=10.0, alias="session_timeout")
    heartbeat_interval_s: Duration = Field(default=1.0, alias="heartbeat_interval")
    rebalance_timeout_s: Duration = Field(default=10.0, alias="rebalance_timeout")
    #: How often Faust commits the offsets of records whose lines InfluxDB has.
    commit_interval_s: Duration = Field(default=1.0, alias="commit_interval")
    #: Longest time the broker may hold one fetch (Faust's own is 1.5 s; see ``app.py``).
    fetch_max_wait_s: Duration = Field(default=0.1, alias="fetch_max_wait")
    #: Where a new consumer group starts: everything still in the topic.
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"


class ProcessorConfig(BaseModel):
    """Everything the Faust worker needs besides the service endpoints (those are Settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    #: Flood control and escalation across alerts (``stream_processor.alert_manager``).
    alert_manager: AlertManagerConfig = Field(default_factory=AlertManagerConfig)
    sink: SinkConfig = Field(default_factory=SinkConfig)
    kafka: KafkaTuning = Field(default_factory=KafkaTuning)
    #: A point with at least this many good readings in one record is scored with the
    #: detector's batch method; fewer go through the scalar loop, which is faster for
    #: short runs (measured break-even of ewma_zscore: 100-200 readings).
    vector_min_readings: int = Field(default=256, ge=1)
    #: A device's state goes to the table's changelog at most this often, when none of its
    #: records waits for InfluxDB (and whenever an alert opens or resolves; on rebalance
    #: and stop every changed state is saved). Longer means less changelog traffic and
    #: pickling; after a kill -9 the new owner re-judges, from a model at most this old,
    #: the records not yet committed (see ``tables.StateCheckpoints``).
    #: 10 s: a point's pickled state is ~3.5 KB and takes ~15 us to pickle (measured), so at
    #: 2 s the saves of 2,000 points at 1 Hz cost ~15 % of the scoring work and wrote ~3.5 MB/s
    #: to the changelog (kept in memory by Tansu).
    state_save_interval_s: Duration = Field(default=10.0, alias="state_save_interval")
    stats_interval_s: Duration = Field(default=10.0, alias="stats_interval")
