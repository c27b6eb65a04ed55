"""Device profiles: what a Modbus device exposes, point by point.

A profile is a YAML file in ``firmware_configs/profiles/`` named after the
instrument model. Addresses are **0-based protocol addresses** (what goes on
the wire): vendor documentation often says ``40001`` for holding register 0
and ``30001`` for input register 0; subtract the prefix and one.

Each point says where its value lives (register type, address, data type and
byte order) and how raw counts become engineering units
(``value = raw * scale + offset``). The optional ``signal`` block is a hint
for the field simulator only; the edge agent never reads it.

Coils and discrete inputs (``register: coil`` / ``discrete_input``, read
with function codes 1 and 2) hold one bit per address; their points are
``type: bool`` and report 0.0 or 1.0. A ``type: bit`` point is one bit of a
16-bit register (a status word) instead.

Byte orders name the four bytes of a 32-bit value as the device sends them
(``A`` most significant). The same letters generalise to 16- and 64-bit types:
``ABCD`` big-endian words and bytes; ``CDAB`` words swapped; ``BADC`` bytes
swapped within each word; ``DCBA`` both.

A point may carry its own ``poll_interval`` (read less often than its
device); a profile may cap ``max_registers_per_read`` for instruments that
reject long reads.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from parkwatch.durations import Duration
from parkwatch.wire.topics import ID_PATTERN

__all__ = [
    "RegisterType",
    "DataType",
    "ByteOrder",
    "SignalKind",
    "REGISTER_WIDTH",
    "BIT_REGISTER_TYPES",
    "SignalHint",
    "PointSpec",
    "DeviceProfile",
]

RegisterType = Literal["holding", "input", "coil", "discrete_input"]
DataType = Literal[
    "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "bit", "bool"
]
#: Register types addressed in single bits (function codes 1 and 2); their points are ``type: bool``.
BIT_REGISTER_TYPES: Final = frozenset({"coil", "discrete_input"})
ByteOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]
SignalKind = Literal[
    "temperature",
    "pressure",
    "gas",
    "oxygen",
    "flow",
    "level",
    "power",
    "voltage",
    "current",
    "counter",
    "state",
]

#: Registers (16-bit words) each data type occupies.
REGISTER_WIDTH: Final[dict[str, int]] = {
    "int16": 1,
    "uint16": 1,
    "bit": 1,
    "bool": 1,  # one coil or discrete input
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "int64": 4,
    "uint64": 4,
    "float64": 4,
}


class SignalHint(BaseModel):
    """How the field simulator makes this point's value; ignored by the edge agent.

    ``nominal`` and ``noise`` (standard deviation) are in engineering units;
    ``range`` is the instrument's measuring range, which also sizes default
    anomalies. ``cycle`` is the amplitude of the slow daily-like swing;
    ``rate_per_h`` is how fast a ``counter`` (energy, totalised flow) grows.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SignalKind
    nominal: float
    noise: float = Field(default=0.0, ge=0)
    range: tuple[float, float]
    cycle: float = Field(default=0.0, ge=0)
    rate_per_h: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _range_ordered(self) -> SignalHint:
        low, high = self.range
        if not low < high:
            raise ValueError(f"range must be [low, high] with low < high, got [{low}, {high}]")
        return self


class PointSpec(BaseModel):
    """One value a device exposes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=ID_PATTERN.pattern)
    #: ``register:`` in YAML (``register`` is taken on pydantic models).
    register_type: RegisterType = Field(alias="register")
    #: 0-based protocol address of the first register.
    address: int = Field(ge=0, le=65535)
    type: DataType
    byte_order: ByteOrder = "ABCD"
    #: For ``type: bit`` only: which bit of the register, 0 = least significant.
    bit: int | None = Field(default=None, ge=0, le=15)
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    description: str = ""
    #: Read this point only this often (an energy counter next to 1 s gas readings); default: at
    #: every poll of its device. Must not be shorter than the device's ``poll_interval``.
    poll_interval_s: Duration | None = Field(default=None, alias="poll_interval", gt=0)
    signal: SignalHint | None = None

    @property
    def width(self) -> int:
        """Registers occupied."""
        return REGISTER_WIDTH[self.type]

    @property
    def end(self) -> int:
        """One past the last register occupied."""
        return self.address + self.width

    @model_validator(mode="after")
    def _consistent(self) -> PointSpec:
        if (self.type == "bit") != (self.bit is not None):
            raise ValueError("'bit' is required for type bit and not allowed otherwise")
        if (self.type == "bool") != (self.register_type in BIT_REGISTER_TYPES):
            raise ValueError("coils and discrete inputs are type bool, and type bool is only for them")
        if self.end > 65536:
            raise ValueError(f"{self.type} at address {self.address} runs past register 65535")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self


class DeviceProfile(BaseModel):
    """A register map: the points of one instrument model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=ID_PATTERN.pattern)
    description: str = ""
    #: States the convention explicitly; only 0-based addresses are supported.
    addressing: Literal["0-based"] = "0-based"
    #: Largest read this instrument accepts (many answer "illegal address" or nothing beyond a
    #: vendor limit); the device entry's ``max_registers_per_read`` may lower it further.
    max_registers_per_read: int | None = Field(default=None, ge=1, le=125)
    points: list[PointSpec] = Field(min_length=1)

    @field_validator("points")
    @classmethod
    def _no_clashes(cls, points: list[PointSpec]) -> list[PointSpec]:
        seen: set[str] = set()
        for point in points:
            if point.name in seen:
                raise ValueError(f"point name {point.name!r} is used twice")
            seen.add(point.name)
        for kind in ("holding", "input", "coil", "discrete_input"):
            _check_overlaps([p for p in points if p.register_type == kind])
        return points


def _check_overlaps(points: list[PointSpec]) -> None:
    """Two points may share a register only if both are distinct bits of it."""
    ordered = sorted(points, key=lambda p: (p.address, p.end))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.address >= before.end:
            continue
        if before.type == after.type == "bit" and before.address == after.address and before.bit != after.bit:
            continue
        raise ValueError(
            f"points {before.name!r} and {after.name!r} overlap at "
            f"{before.register_type} register {after.address}"
        )
