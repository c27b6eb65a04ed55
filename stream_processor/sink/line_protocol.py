"""InfluxDB line protocol for readings and alerts: the storage contract.

- measurement `reading`, tags `site,gateway,device,point`, fields `value` (float, omitted when null), `quality` (string), `score` (float, omitted when not scored), timestamp = reading ts_ms. Re-writing the same reading overwrites (idempotent by series+time). The number of readings stored is `SELECT count(quality) FROM reading`.
- measurement `alert`, tags `site,gateway,device,point,rule,severity`, fields `id` (string), `state` (string), `value`, `score`, `message`; timestamp = updated_ms.

Timestamps are written with ``precision=ms``.

Why this shape: tags are what dashboards group and filter by, and each sensor
point is its own series, so re-delivery after a crash or a replay writes the
same points again instead of adding rows (InfluxDB merges the field sets of
points with the same series and time; the later value of a field wins).
``quality`` is always present, which is why counting it counts readings.
``score`` is omitted, not zero, when a reading was not scored (quality not
good, or a late or repeated reading), so ``mean(score)`` only averages real
scores; readings in a detector's warm-up are scored 0. The
``alert`` point of a state change keeps ``value``/``score`` of the reading that
caused it; fields that are None are omitted.

Escaping follows the line protocol: commas, equals signs and spaces in tag
keys/values and commas and spaces in measurement names get a backslash;
string field values are double-quoted with ``"`` and ``\\`` escaped. A tag
value cannot be empty, contain a newline or end in a backslash: those raise
``ValueError`` (our ids can't contain them; see ``ID_PATTERN``).
"""  # noqa: E501 - the contract lines are quoted verbatim

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.frames import QUALITIES
from parkwatch.wire.records import DeviceRecord

__all__ = [
    "escape_measurement",
    "escape_tag",
    "quote_string_field",
    "format_float",
    "encode_line",
    "reading_prefix",
    "reading_line",
    "alert_line",
    "reading_lines",
    "pipeline_line",
]

READING: Final = "reading"
_QUALITY_FIELDS: Final = {q: f'quality="{q}"' for q in QUALITIES}
ALERT: Final = "alert"
PIPELINE: Final = "pipeline"

_TAG_ESCAPES: Final = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_ESCAPES: Final = str.maketrans({",": r"\,", " ": r"\ "})
_STRING_ESCAPES: Final = str.maketrans({"\\": "\\\\", '"': '\\"'})
_FLOAT_REPR: Final = float.__repr__  # also right for numpy float64, whose repr is "np.float64(..)"


def escape_tag(value: str) -> str:
    r"""A tag key or value for line protocol.

    >>> escape_tag("gas detector,1=a")
    'gas\\ detector\\,1\\=a'
    """
    if not value or "\n" in value or "\r" in value or value.endswith("\\"):
        raise ValueError(f"tag {value!r} cannot be written in line protocol")
    return value.translate(_TAG_ESCAPES)


def escape_measurement(value: str) -> str:
    r"""A measurement name for line protocol.

    >>> escape_measurement("my reading,x")
    'my\\ reading\\,x'
    """
    if not value or "\n" in value:
        raise ValueError(f"measurement {value!r} cannot be written in line protocol")
    return value.translate(_MEASUREMENT_ESCAPES)


def quote_string_field(value: str) -> str:
    r"""A string field value, quoted.

    >>> print(quote_string_field('say "hi" \\ bye'))
    "say \"hi\" \\ bye"
    """
    return f'"{value.translate(_STRING_ESCAPES)}"'


def format_float(value: float) -> str:
    """A float field value; ``repr`` is exact and InfluxDB parses it (``1e+20`` included).

    >>> format_float(12.0), format_float(1e-7), format_float(3)
    ('12.0', '1e-07', '3.0')
    """
    return _FLOAT_REPR(float(value))


def encode_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | str | None],
    ts_ms: int,
) -> str:
    """One point; ``None`` fields and empty tags are omitted (at least one field must remain).

    Line protocol has no empty tag value: a gateway alert's ``device`` and
    ``point`` are empty, and one such line would fail its whole batch.

    >>> encode_line("alert", {"site": "n 1", "point": ""}, {"id": "a", "score": 0.5, "value": None},
    ...             1700000000000)
    'alert,site=n\\\\ 1 id="a",score=0.5 1700000000000'
    """
    tag_part = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in tags.items() if v)
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        text = quote_string_field(value) if isinstance(value, str) else format_float(value)
        parts.append(f"{escape_tag(key)}={text}")
    if not parts:
        raise ValueError(f"a {measurement} point needs at least one field")
    return f"{escape_measurement(measurement)}{tag_part} {','.join(parts)} {int(ts_ms)}"


def reading_prefix(record: DeviceRecord) -> str:
    """``reading,site=..,gateway=..,device=..,point=`` for a record: built once per record."""
    return (
        f"{READING},site={escape_tag(record.site)},gateway={escape_tag(record.gateway)}"
        f",device={escape_tag(record.device)},point="
    )


def reading_line(prefix: str, point_tag: str, ts_ms: int, value: float | None, quality: str,
                 score: float | None) -> str:
    """One reading; ``point_tag`` is already escaped. The hot path: plain f-strings, no dicts.

    >>> prefix = "reading,site=n,gateway=g,device=d,point="
    >>> reading_line(prefix, "ch4", 1700000000000, 1.5, "good", 0.25)
    'reading,site=n,gateway=g,device=d,point=ch4 value=1.5,quality="good",score=0.25 1700000000000'
    >>> reading_line(prefix, "ch4", 1700000000000, None, "comm_loss", None)
    'reading,site=n,gateway=g,device=d,point=ch4 quality="comm_loss" 1700000000000'
    """
    quality_field = _QUALITY_FIELDS.get(quality) or f"quality={quote_string_field(quality)}"
    head = f"{prefix}{point_tag} "
    if value is not None:
        head += f"value={_FLOAT_REPR(float(value))},"
    if score is not None:
        return f"{head}{quality_field},score={_FLOAT_REPR(score)} {ts_ms}"
    return f"{head}{quality_field} {ts_ms}"


def alert_line(event: AlertEvent) -> str:
    """The ``alert`` point of one alert state change."""
    return encode_line(
        ALERT,
        {
            "site": event.site,
            "gateway": event.gateway,
            "device": event.device,
            "point": event.point,
            "rule": event.rule,
            "severity": event.severity,
        },
        {
            "id": event.id,
            "state": event.state,
            "value": event.value,
            "score": event.score,
            "message": event.message,
        },
        event.updated_ms,
    )


def reading_lines(record: DeviceRecord, scores: Iterable[float | None]) -> list[str]:
    """Lines for every reading of a record, paired with their scores (None: not scored)."""
    prefix = reading_prefix(record)
    return [
        reading_line(prefix, escape_tag(r.point), r.ts_ms, r.value, r.quality, s)
        for r, s in zip(record.readings, scores, strict=True)
    ]


def pipeline_line(component: str, instance: str, counters: Mapping[str, int], ts_ms: int) -> str:
    """A component's health point (``dashboards/README.md``: the ``pipeline`` measurement).

    Counters are integer fields (``i``), so InfluxDB keeps one field type however they grow.

    >>> pipeline_line("bridge", "b-1", {"readings_in": 12, "deadletter": 0}, 1700000000000)
    'pipeline,component=bridge,instance=b-1 readings_in=12i,deadletter=0i 1700000000000'
    """
    fields = ",".join(f"{escape_tag(k)}={int(v)}i" for k, v in counters.items())
    tags = f"component={escape_tag(component)},instance={escape_tag(instance)}"
    return f"{PIPELINE},{tags} {fields} {int(ts_ms)}"
