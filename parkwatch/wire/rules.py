"""Monitoring rules as data, on the compacted Kafka ``rules`` topic (key = rule id).

The cloud API is the only writer: it validates a rule, gives it the next
version and publishes the whole rule; a deleted rule is a tombstone (null
value). Every worker reads the topic from the start and keeps the newest
record per key, so a change reaches running workers within seconds and a
restarted worker starts with every rule. Version 1, JSON::

    {"v": 1, "id": "ch4-high-north", "version": 3, "enabled": true,
     "name": "CH4 high, north plant", "severity": "critical",
     "scope": {"site": "north", "point": "ch4"},
     "condition": {"type": "limit", "high": 25.0, "hysteresis": 2.0, "delay": 5.0, "predict": 600.0},
     "updated_ms": 1764189600000, "updated_by": "alice"}

Conditions (``type``), all judged in event time (the readings' own timestamps):

``limit``
    value above ``high`` (or below ``low``) for ``delay`` seconds opens;
    back inside by ``hysteresis`` clears. With ``predict`` (seconds), a
    linear trend of the point that would cross a limit within that horizon
    raises a predicted alert ("expected to cross 25 in about 4 min") first.
``rate``
    the value rose faster than ``max_rise_per_min`` (or fell faster than
    ``max_fall_per_min``) over ``window`` seconds.
``stale``
    no good reading of the point for ``after`` seconds.
``gateway_offline``
    the gateway reported offline (its last will) and stayed so ``after`` seconds.
``score``
    the anomaly score stayed at or above ``above`` for ``for`` seconds.

Scope: every given field must match; ``tag`` matches a point's tags (its
device profile's name and the point's own ``tags`` in ``firmware_configs``).
"""

from __future__ import annotations

import json
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from parkwatch.durations import parse_duration
from parkwatch.errors import FrameError
from parkwatch.wire.alerts import Severity

__all__ = [
    "KAFKA_RULES",
    "RULES_VERSION",
    "RULE_ID_PATTERN",
    "Scope",
    "LimitCondition",
    "RateCondition",
    "StaleCondition",
    "GatewayOfflineCondition",
    "ScoreCondition",
    "Condition",
    "RuleSpec",
    "Rule",
    "decode_rule",
]

KAFKA_RULES: Final = "rules"
RULES_VERSION: Final = 1
RULE_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_ID = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
#: A day: longer delays, windows and horizons are configuration mistakes, not rules.
_MAX_S: Final = 86_400.0


def _seconds(value: object) -> object:
    """Rules carry seconds as numbers on the wire; authors may write ``"5s"`` or ``"2m"``."""
    if isinstance(value, str) and value.strip() not in ("0", "0s"):
        return parse_duration(value, bare_seconds=True)
    return 0.0 if isinstance(value, str) else value


#: Seconds, as a number or a duration string; zero allowed (no delay).
Duration = Annotated[float, BeforeValidator(_seconds)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Scope(_Strict):
    """Which points a rule watches; an empty scope watches every point of the park."""

    site: _ID | None = None
    gateway: _ID | None = None
    device: _ID | None = None
    point: _ID | None = None
    tag: _ID | None = None

    def matches(self, site: str, gateway: str, device: str, point: str, tags: frozenset[str]) -> bool:
        """Whether the point is in scope.

        >>> Scope(site="north", tag="gas_detector").matches("north", "gw", "gas-01", "ch4",
        ...                                                 frozenset({"gas_detector"}))
        True
        >>> Scope(point="h2s").matches("north", "gw", "gas-01", "ch4", frozenset())
        False
        """
        return (
            (self.site is None or self.site == site)
            and (self.gateway is None or self.gateway == gateway)
            and (self.device is None or self.device == device)
            and (self.point is None or self.point == point)
            and (self.tag is None or self.tag in tags)
        )

    def matches_gateway(self, site: str, gateway: str) -> bool:
        """For gateway-level rules: only site and gateway are looked at."""
        return (self.site is None or self.site == site) and (self.gateway is None or self.gateway == gateway)


class LimitCondition(_Strict):
    type: Literal["limit"] = "limit"
    high: float | None = Field(default=None, allow_inf_nan=False)
    low: float | None = Field(default=None, allow_inf_nan=False)
    hysteresis: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    delay: Duration = Field(default=0.0, ge=0.0, le=_MAX_S)
    predict: Duration | None = Field(default=None, gt=0.0, le=_MAX_S)

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if self.high is None and self.low is None:
            raise ValueError("a limit rule needs high, low or both")
        if self.high is not None and self.low is not None:
            if self.low >= self.high:
                raise ValueError(f"low ({self.low}) must be below high ({self.high})")
            if 2 * self.hysteresis >= self.high - self.low:
                raise ValueError("hysteresis must be less than half the distance between low and high")
        return self


class RateCondition(_Strict):
    type: Literal["rate"] = "rate"
    max_rise_per_min: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    max_fall_per_min: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    window: Duration = Field(default=60.0, ge=1.0, le=_MAX_S)

    @model_validator(mode="after")
    def _some(self) -> Self:
        if self.max_rise_per_min is None and self.max_fall_per_min is None:
            raise ValueError("a rate rule needs max_rise_per_min, max_fall_per_min or both")
        return self


class StaleCondition(_Strict):
    type: Literal["stale"] = "stale"
    after: Duration = Field(ge=1.0, le=_MAX_S)


class GatewayOfflineCondition(_Strict):
    type: Literal["gateway_offline"] = "gateway_offline"
    after: Duration = Field(default=0.0, ge=0.0, le=_MAX_S)


class ScoreCondition(_Strict):
    type: Literal["score"] = "score"
    above: float = Field(gt=0.0, le=1.0)
    for_: Duration = Field(default=0.0, ge=0.0, le=_MAX_S, alias="for")


Condition = Annotated[
    LimitCondition | RateCondition | StaleCondition | GatewayOfflineCondition | ScoreCondition,
    Field(discriminator="type"),
]


class RuleSpec(_Strict):
    """What an author writes: everything but the id, version and authorship."""

    name: str = Field(min_length=1, max_length=120)
    enabled: bool = True
    severity: Severity = "warning"
    scope: Scope = Field(default_factory=Scope)
    condition: Condition


class Rule(RuleSpec):
    """A published rule version.

    >>> rule = Rule(id="ch4-high", version=1, name="CH4 high", severity="critical",
    ...             scope=Scope(point="ch4"), condition={"type": "limit", "high": 25, "delay": "5s"},
    ...             updated_ms=1764189600000, updated_by="alice")
    >>> decode_rule(rule.encode()) == rule
    True
    >>> rule.condition.delay
    5.0
    """

    id: str = Field(pattern=RULE_ID_PATTERN)
    version: int = Field(ge=1)
    updated_ms: int = Field(ge=0)
    updated_by: str = Field(min_length=1, max_length=64)

    def encode(self) -> bytes:
        return json.dumps({"v": RULES_VERSION, **self.model_dump(mode="json", by_alias=True)}).encode()


def decode_rule(data: bytes) -> Rule:
    """Parse one ``rules`` record value.

    Raises :class:`FrameError` with reason ``not_json``, ``bad_version`` or ``schema``.

    >>> decode_rule(b'{"v": 1, "id": "x", "name": "n", "version": 1, "updated_ms": 0, "updated_by": "a"}')
    Traceback (most recent call last):
    ...
    parkwatch.errors.FrameError: schema: condition: Field required
    """
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError("not_json", str(exc)) from exc
    if not isinstance(doc, dict) or doc.pop("v", None) != RULES_VERSION:
        raise FrameError("bad_version", f"this reader knows rule version {RULES_VERSION}")
    try:
        return Rule.model_validate(doc)
    except ValidationError as exc:
        raise FrameError("schema", describe_errors(exc)) from exc


def describe_errors(exc: ValidationError, limit: int = 3) -> str:
    """One line naming the first few invalid fields, for logs and problem+json details."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or 'rule'}: {err['msg']}" for err in exc.errors()[:limit]
    ]
    if len(exc.errors()) > limit:
        parts.append("...")
    return "; ".join(parts)
