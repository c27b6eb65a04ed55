"""Gateway events on the Kafka ``gateway-events`` topic, and the ``alarms`` topic.

The bridge turns what it learns about a gateway's *link* into events: holes
and repeats in its sequence numbers, and its birth/death status. Key =
``<site>/<gateway>`` (one partition, so one gateway's events stay in order).
Schema version 1, JSON::

    {"v": 1, "id": "9c1e0f...", "kind": "gap", "site": "north", "gateway": "gw-01",
     "stream": "data", "from_seq": 101, "to_seq": 140, "count": 40,
     "ts_ms": 1764189600123, "bridge": "bridge-1", "detail": "not received within 60s"}

- ``kind``:

  ``gap``
      seqs ``from_seq..to_seq`` (inclusive) of ``stream`` never arrived: data
      the gateway lost (its outbox dropped them when full) or that was lost
      on the way. ``count`` = number of seqs. An operator must see this.
  ``duplicate``
      ``count`` frames (or alarms) with seqs between ``from_seq`` and
      ``to_seq`` arrived again and were dropped by the bridge (aggregated per
      gateway and bridge round). Expected after a gateway or bridge crash.
  ``late``
      ``count`` frames arrived inside a range already reported as a gap; they
      were forwarded. The earlier gap event overstated the loss by this much.
  ``seq_reset``
      the gateway's seq went back by more than the bridge's dedupe window
      (``from_seq`` = highest seq known before, ``to_seq`` = the new one):
      tracking restarted; frames are forwarded, not dropped.
  ``offline``
      the gateway's retained status turned ``offline``: its last will (the
      broker lost it) or a clean shutdown (``detail`` says which when known).
  ``online``
      the gateway's status turned ``online`` again ("gateway back").

- ``stream``: ``data`` (frames on ``.../data``) or ``alarm`` (``.../alarm``,
  a sequence of its own); ``null`` for ``offline``/``online``.
- ``from_seq``/``to_seq``/``count``: ``null`` for ``offline``/``online``.
- ``ts_ms``: when the bridge observed it (wall clock, epoch ms); for status
  events, the ``ts_ms`` of the status payload is in ``detail``.
- ``id``: a hash of kind, site, gateway, stream, the seq range and (status
  events) the status payload's ``ts_ms``: the same observation re-emitted
  after a bridge restart, or by two bridges of one share group, has the same
  id, so consumers upsert by it.
- Delivery is at-least-once.

``alarms``: one record per valid local alarm (:mod:`parkwatch.wire.alarms`),
key ``<site>/<gateway>``, value = the alarm re-encoded by
:func:`~parkwatch.wire.alarms.encode_alarm` (version 1). Repeats by
``(site, gateway, seq)`` are dropped by the bridge as far as it can tell (see
``stream_processor/README.md``); consumers should still upsert by that triple.

Status payload (``parkwatch/<site>/<gateway>/status``, retained, written by
``edge_agent/uplink.py``): ``{"v": 1, "state": "online"|"offline", "site",
"gateway", "ts_ms", "counters": {...}}``; :func:`decode_status` checks it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, get_args

from parkwatch.errors import FrameError
from parkwatch.wire.topics import ID_PATTERN

__all__ = [
    "KAFKA_ALARMS",
    "KAFKA_GATEWAY_EVENTS",
    "EVENT_VERSION",
    "EventKind",
    "SeqStream",
    "GatewayEvent",
    "GatewayStatus",
    "decode_status",
]

KAFKA_ALARMS: Final = "alarms"
KAFKA_GATEWAY_EVENTS: Final = "gateway-events"
EVENT_VERSION: Final = 1
STATUS_VERSION: Final = 1

EventKind = Literal["gap", "duplicate", "late", "seq_reset", "offline", "online"]
SeqStream = Literal["data", "alarm"]
_KINDS: Final = frozenset(get_args(EventKind))


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """One observation about a gateway's link; see the module docstring.

    >>> e = GatewayEvent.make("gap", "north", "gw-01", 1764189600123, "bridge-1",
    ...                       stream="data", from_seq=101, to_seq=140)
    >>> e.count, GatewayEvent.decode(e.encode()) == e, e.key
    (40, True, b'north/gw-01')
    """

    id: str
    kind: EventKind
    site: str
    gateway: str
    stream: SeqStream | None
    from_seq: int | None
    to_seq: int | None
    count: int | None
    ts_ms: int
    bridge: str
    detail: str

    @classmethod
    def make(
        cls,
        kind: EventKind,
        site: str,
        gateway: str,
        ts_ms: int,
        bridge: str,
        *,
        stream: SeqStream | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
        count: int | None = None,
        detail: str = "",
        identity: str = "",
    ) -> GatewayEvent:
        """Build an event with its deterministic id; ``count`` defaults to the range's size.

        ``identity`` adds what else tells two observations apart (status events:
        the status payload's ``ts_ms``).
        """
        if count is None and from_seq is not None and to_seq is not None:
            count = to_seq - from_seq + 1
        text = f"{kind}/{site}/{gateway}/{stream}/{from_seq}/{to_seq}/{identity}"
        event_id = hashlib.sha256(text.encode()).hexdigest()[:24]
        return cls(event_id, kind, site, gateway, stream, from_seq, to_seq, count, ts_ms, bridge, detail)

    @property
    def key(self) -> bytes:
        return f"{self.site}/{self.gateway}".encode()

    def encode(self) -> bytes:
        return json.dumps({"v": EVENT_VERSION, **asdict(self)}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> GatewayEvent:
        """Parse an event; :class:`FrameError` (``not_json``, ``bad_version``, ``bad_fields``) otherwise."""
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FrameError("not_json", str(exc)[:200]) from exc
        if not isinstance(doc, dict) or doc.pop("v", None) != EVENT_VERSION:
            raise FrameError("bad_version", f"this reader knows gateway event version {EVENT_VERSION}")
        try:
            event = cls(**doc)
        except TypeError as exc:
            raise FrameError("bad_fields", str(exc)) from exc
        if event.kind not in _KINDS:
            raise FrameError("bad_fields", f"kind {event.kind!r} is not one of {sorted(_KINDS)}")
        return event


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A decoded status message; ``counters`` keeps its integer counters (outbox depth, acks, …)."""

    site: str
    gateway: str
    state: Literal["online", "offline"]
    ts_ms: int
    counters: dict[str, int] = field(default_factory=dict, compare=False)


def decode_status(payload: bytes | bytearray) -> GatewayStatus:
    """Parse and check a status payload; :class:`FrameError` with a reason code otherwise.

    >>> decode_status(b'{"v":1,"state":"offline","site":"n","gateway":"g","ts_ms":1764189600000}').state
    'offline'
    """
    try:
        doc: Any = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError("not_json", str(exc)[:200]) from exc
    if not isinstance(doc, dict):
        raise FrameError("not_object", f"top level is {type(doc).__name__}")
    if doc.get("v") != STATUS_VERSION:
        raise FrameError("unknown_version", f"v={doc.get('v')!r}, this reader knows {STATUS_VERSION}")
    for key in ("site", "gateway"):
        if not isinstance(doc.get(key), str) or not ID_PATTERN.match(doc[key]):
            raise FrameError("schema", f"status.{key} must be an id matching {ID_PATTERN.pattern}")
    if doc.get("state") not in ("online", "offline"):
        raise FrameError("schema", "status.state must be 'online' or 'offline'")
    if type(doc.get("ts_ms")) is not int or doc["ts_ms"] < 0:
        raise FrameError("schema", "status.ts_ms must be epoch milliseconds")
    raw = doc.get("counters")
    counters = {k: v for k, v in raw.items() if type(v) is int} if isinstance(raw, dict) else {}
    return GatewayStatus(doc["site"], doc["gateway"], doc["state"], doc["ts_ms"], counters)
