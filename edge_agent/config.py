"""Gateway configs: which devices a gateway reads and how it sends what it reads.

A gateway config is one YAML file (``firmware_configs/gateways/*.yaml``)::

    site: north
    gateway: north-gw1
    uplink:
      frame_interval: 1s
      max_readings_per_frame: 5000
    devices:
      - id: gas-01
        driver: modbus_tcp
        host: 127.0.0.1
        port: 15020
        unit_id: 1
        profile: gas_detector
        poll_interval: 1s

Device entries are validated by the config model of the driver they name
(see :mod:`edge_agent.drivers.registry`); profiles are looked up in
``profiles_dir`` (default: ``../profiles`` next to the gateway file).

Everything is checked here, before any port opens. Any problem raises one
:class:`~parkwatch.errors.ConfigError` listing every error found as
``<file>: <field path>: <what is wrong> (got <value>)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge_agent.alarms import AlarmRule
from edge_agent.drivers import known_drivers
from edge_agent.drivers.base import DeviceConfig
from edge_agent.drivers.registry import config_models
from edge_agent.preprocess import PreprocessStep, known_steps
from edge_agent.register_map import DeviceProfile
from edge_agent.uplink_auth import UplinkAuth
from parkwatch.durations import Duration
from parkwatch.errors import ConfigError
from parkwatch.wire.topics import ID_PATTERN

__all__ = [
    "UplinkConfig",
    "OutboxConfig",
    "MetricsConfig",
    "GatewayConfig",
    "Gateway",
    "load_gateway",
    "load_profile",
    "format_errors",
]

_M = TypeVar("_M", bound=BaseModel)

if TYPE_CHECKING:
    _AnyDevice = DeviceConfig
else:
    # The union of every registered driver's config, picked by the ``driver`` key.
    _AnyDevice = Annotated[Union[tuple(config_models())], Field(discriminator="driver")]  # noqa: UP007


class UplinkConfig(BaseModel):
    """How readings leave the gateway."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: A frame is sent at least this often while readings are pending.
    frame_interval_s: Duration = Field(default=1.0, alias="frame_interval")
    #: A frame is sent as soon as it holds this many readings. A reading is ~45 bytes of JSON and
    #: a frame must stay under the wire contract's 1 MiB, hence the upper bound.
    max_readings_per_frame: int = Field(default=5000, ge=1, le=20_000)
    #: Frames published but not yet acknowledged before new frames are refused (back-pressure).
    max_in_flight_frames: int = Field(default=1000, ge=1, le=65_000)
    #: How long shutdown waits for outstanding acknowledgements.
    flush_timeout_s: Duration = Field(default=5.0, alias="flush_timeout")
    keepalive_s: Duration = Field(default=30.0, alias="keepalive")
    #: Reconnect backoff: 1 s after the first failure, doubling up to this cap.
    reconnect_max_s: Duration = Field(default=30.0, alias="reconnect_max")
    #: The retained ``online`` status is refreshed this often with current counters (outbox
    #: depth, acks), which the bridge turns into the gateway's health on the pipeline board.
    status_interval_s: Duration = Field(default=10.0, alias="status_interval")
    #: Username/password and TLS (:mod:`edge_agent.uplink_auth`); none by default.
    auth: UplinkAuth | None = None


class OutboxConfig(BaseModel):
    """The durable store-and-forward buffer (:mod:`edge_agent.outbox`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Payload bytes kept at most; beyond, the oldest data frames are dropped (alarms never).
    max_size_mb: float = Field(default=256.0, gt=0)
    #: ``power_loss``: fsync each commit (SQLite synchronous=FULL); ``process_crash``: survive kill -9
    #: only (synchronous=NORMAL), for storage that cannot afford an fsync per frame.
    durability: Literal["power_loss", "process_crash"] = "power_loss"
    #: Backlog replayed after an outage at most this many readings per second (0: unlimited);
    #: live frames and alarms are not throttled.
    replay_rate: float = Field(default=20_000.0, ge=0)


class MetricsConfig(BaseModel):
    """Prometheus text exposition of the agent's health (:mod:`edge_agent.metrics`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    #: 0 picks a free port (tests).
    port: int = Field(default=9108, ge=0, le=65535)


class GatewayConfig(BaseModel):
    """The schema of one gateway config file; the only place that holds defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = Field(pattern=ID_PATTERN.pattern)
    gateway: str = Field(pattern=ID_PATTERN.pattern)
    description: str = ""
    #: Where profiles are looked up, relative to this file.
    profiles_dir: str = "../profiles"
    #: Where the agent keeps its state (the last frame seq); default: ``<PARKWATCH_STATE_DIR>/edge``.
    state_dir: str | None = None
    uplink: UplinkConfig = Field(default_factory=lambda: UplinkConfig())
    outbox: OutboxConfig = Field(default_factory=lambda: OutboxConfig())
    #: Serve ``/metrics`` when set; off by default.
    metrics: MetricsConfig | None = None
    devices: list[_AnyDevice] = Field(min_length=1)
    #: Local limit alarms (:mod:`edge_agent.alarms`), evaluated on raw readings.
    alarms: list[AlarmRule] = Field(default_factory=list)
    #: Preprocessing steps (:mod:`edge_agent.preprocess`), applied in order after the alarms.
    preprocessing: list[PreprocessStep] = Field(default_factory=list)

    @field_validator("devices")
    @classmethod
    def _unique_ids(cls, devices: list[DeviceConfig]) -> list[DeviceConfig]:
        first: dict[str, int] = {}
        for index, device in enumerate(devices):
            if device.id in first:
                raise ValueError(
                    f"device id {device.id!r} is used by devices[{first[device.id]}] and devices[{index}]"
                )
            first[device.id] = index
        return devices

    @model_validator(mode="after")
    def _rules_name_devices(self) -> GatewayConfig:
        ids = {d.id for d in self.devices}
        seen: set[str] = set()
        for index, rule in enumerate(self.alarms):
            if rule.device not in ids:
                raise ValueError(f"alarms[{index}].device: no device {rule.device!r} in devices")
            if rule.rule in seen:
                raise ValueError(f"alarms[{index}].rule: rule id {rule.rule!r} is used twice")
            seen.add(rule.rule)
        for index, step in enumerate(self.preprocessing):
            unknown = [d for d in step.devices if d not in ids]
            if unknown:
                raise ValueError(f"preprocessing[{index}].devices: no device {unknown[0]!r} in devices")
        return self


@dataclass(frozen=True, slots=True)
class Gateway:
    """A validated gateway config with the profiles its devices use."""

    path: Path
    config: GatewayConfig
    profiles: dict[str, DeviceProfile]


def load_gateway(path: str | Path) -> Gateway:
    """Read, validate and resolve a gateway config; :class:`ConfigError` on any problem."""
    path = Path(path)
    config = _validate(GatewayConfig, _read_yaml(path), path)
    profiles_dir = path.parent / config.profiles_dir
    profiles: dict[str, DeviceProfile] = {}
    problems: list[str] = []
    for index, device in enumerate(config.devices):
        name = device.profile
        if name is None or name in profiles:
            continue
        profile_path = profiles_dir / f"{name}.yaml"
        if not profile_path.is_file():
            known = sorted(p.stem for p in profiles_dir.glob("*.yaml")) if profiles_dir.is_dir() else []
            problems.append(
                f"{path}: devices[{index}].profile: no profile {name!r} in {profiles_dir} "
                f"(known: {', '.join(known) or 'none'})"
            )
            continue
        try:
            profiles[name] = load_profile(profile_path)
        except ConfigError as exc:
            detail = str(exc).replace("\n", "\n  ")
            problems.append(f"{path}: devices[{index}].profile: invalid profile {name!r}:\n  {detail}")
    for index, device in enumerate(config.devices):
        profile = profiles.get(device.profile) if device.profile is not None else None
        if profile is None:
            continue
        for point in profile.points:
            if point.poll_interval_s is not None and point.poll_interval_s < device.poll_interval_s:
                problems.append(
                    f"{path}: devices[{index}].poll_interval: point {point.name!r} of profile "
                    f"{profile.name!r} asks for {point.poll_interval_s:g}s, faster than the device is "
                    f"polled (got {device.poll_interval_s:g}s)"
                )
                break
    if problems:
        raise ConfigError("\n".join(problems))
    return Gateway(path, config, profiles)


def load_profile(path: str | Path) -> DeviceProfile:
    """Read and validate one profile file; its ``name`` must match the file name."""
    path = Path(path)
    profile = _validate(DeviceProfile, _read_yaml(path), path)
    if profile.name != path.stem:
        raise ConfigError(f"{path}: name: must match the file name {path.stem!r} (got {profile.name!r})")
    return profile


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from exc


def _validate(model: type[_M], doc: Any, path: Path) -> _M:
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(doc).__name__}")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(format_errors(path, exc)) from None


def format_errors(path: Path | str, exc: ValidationError) -> str:
    """One line per pydantic error: ``file: devices[2].port: <message> (got <value>)``."""
    drivers = set(known_drivers())
    steps = set(known_steps())
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        message = error["msg"]
        value: Any = error["input"]
        # A discriminated union: devices pick their model by ``driver``, preprocessing by ``step``.
        key, names, what = ("step", steps, "steps") if loc[:1] == ["preprocessing"] else (
            "driver", drivers, "drivers"
        )  # fmt: skip
        if error["type"] == "union_tag_not_found":
            loc.append(key)
            message = f"field required; known {what}: {', '.join(sorted(names))}"
        elif error["type"] == "union_tag_invalid":
            loc.append(key)
            message = f"unknown {key}; known {what}: {', '.join(sorted(names))}"
            value = value.get(key) if isinstance(value, dict) else value
        # Drop the union tag pydantic inserts after an index (devices.2.modbus_tcp.port).
        loc = [
            part
            for i, part in enumerate(loc)
            if not (i > 0 and isinstance(loc[i - 1], int) and part in names)
        ]
        where = _loc_path(loc)
        # The offending value helps for scalars; for a whole mapping or list it is noise.
        hide = error["type"] in ("missing", "union_tag_not_found") or isinstance(value, dict | list)
        shown = "" if hide else f" (got {_short(value)})"
        lines.append(f"{path}: {where}: {_lower_first(message)}{shown}")
    return "\n".join(lines)


def _loc_path(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _lower_first(text: str) -> str:
    text = text.removeprefix("Value error, ")
    return text[:1].lower() + text[1:]
