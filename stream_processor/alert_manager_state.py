"""What the alert manager remembers, and its form in the ``alert-manager`` table.

Three kinds of entry, each its own table key so that an event rewrites only
what it touched:

* ``alert/<id>`` -> :class:`TrackedAlert`: the alert as consumers should hold it
  (its newest event, with the manager's ``group`` and ``escalation`` in it) and
  the bookkeeping escalation needs;
* ``incident/<id>`` -> :class:`Incident`: a flood incident's members;
* ``site/<site>`` -> :class:`SiteWindow`: the alerts opened lately at the site
  and not grouped yet, and the site's active incident.

Values are plain JSON objects (the table's codec is Faust's ``json``): readable
with any Kafka tool, and no pickle to trust. :class:`ManagerState` records
which keys changed, so the owner writes exactly those to the changelog.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from parkwatch.wire.alerts import AlertEvent, Severity

__all__ = ["TrackedAlert", "Incident", "SiteWindow", "ManagerState"]

_ALERT: Final = "alert/"
_INCIDENT: Final = "incident/"
_SITE: Final = "site/"


@dataclass(slots=True)
class TrackedAlert:
    """One alert id: what consumers should end up with, and when it became what it is."""

    #: The alert as consumers should hold it: the newest event that changed it, with the
    #: manager's own fields (``group``, ``escalation``, a raised severity) merged in.
    latest: AlertEvent
    #: ``updated_ms`` of the newest event from another producer (worker, API) that was
    #: applied: such an event changes the state only if it is newer than this. The
    #: manager's own events never move it, so an escalation cannot hide an acknowledgement.
    state_ms: int
    #: The newest ``updated_ms`` of any event of this id on the topic (or sent): what the
    #: manager publishes next for the id is newer, so consumers that keep the newest take it.
    newest_ms: int
    #: Acknowledged at some point since it opened (an ``open`` re-fire does not undo that).
    acknowledged: bool = False
    #: Wall-clock time (Kafka record timestamp) at which it last entered ``open``.
    open_since_ms: int | None = None
    #: Its ``escalation`` count at that moment; escalation steps are counted from there.
    escalation_base: int = 0
    #: Kafka record timestamp of the newest event applied (for forgetting resolved alerts).
    seen_ms: int = 0
    #: Severity an escalation raised it to; events of other producers do not lower it.
    severity_floor: Severity | None = None

    def encode(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["latest"] = asdict(self.latest)
        return doc

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> TrackedAlert:
        return cls(**{**doc, "latest": AlertEvent(**doc["latest"])})


@dataclass(slots=True)
class Incident:
    """A flood incident (itself an alert of kind ``flood``) and the alerts it groups."""

    id: str
    site: str
    members: list[str] = field(default_factory=list)
    #: Wall-clock time (Kafka record timestamp) the newest member joined, or it opened.
    last_join_ms: int = 0

    def encode(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> Incident:
        return cls(**doc)


@dataclass(slots=True)
class SiteWindow:
    """Alerts opened lately at one site and not in an incident, by id: their ``started_ms``."""

    site: str
    opens: dict[str, int] = field(default_factory=dict)
    #: The site's incident while it is active (not resolved).
    incident: str | None = None

    def encode(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def decode(cls, doc: dict[str, Any]) -> SiteWindow:
        return cls(**doc)


class ManagerState:
    """Every tracked alert, incident and site window, and which of them changed.

    Mutate through the dicts and mark each change with :meth:`touch_alert`,
    :meth:`touch_incident` or :meth:`touch_site`; :meth:`changes` then yields
    the table writes (``None`` = delete) and starts over.

    >>> state = ManagerState()
    >>> state.sites["north"] = SiteWindow("north", {"a1": 1000})
    >>> state.touch_site("north")
    >>> writes = state.changes()
    >>> writes
    [(b'site/north', {'site': 'north', 'opens': {'a1': 1000}, 'incident': None})]
    >>> ManagerState.from_items(writes).sites == state.sites, state.changes()
    (True, [])
    """

    def __init__(self) -> None:
        self.alerts: dict[str, TrackedAlert] = {}
        self.incidents: dict[str, Incident] = {}
        self.sites: dict[str, SiteWindow] = {}
        self._dirty: set[str] = set()

    def touch_alert(self, alert_id: str) -> None:
        self._dirty.add(_ALERT + alert_id)

    def touch_incident(self, incident_id: str) -> None:
        self._dirty.add(_INCIDENT + incident_id)

    def touch_site(self, site: str) -> None:
        self._dirty.add(_SITE + site)

    def changes(self) -> list[tuple[bytes, dict[str, Any] | None]]:
        """Table writes for everything touched since the last call, in a stable order."""
        out: list[tuple[bytes, dict[str, Any] | None]] = []
        for key in sorted(self._dirty):
            entry = self._entry(key)
            out.append((key.encode(), entry.encode() if entry is not None else None))
        self._dirty.clear()
        return out

    def _entry(self, key: str) -> TrackedAlert | Incident | SiteWindow | None:
        if key.startswith(_ALERT):
            return self.alerts.get(key[len(_ALERT):])
        if key.startswith(_INCIDENT):
            return self.incidents.get(key[len(_INCIDENT):])
        return self.sites.get(key[len(_SITE):])

    @classmethod
    def from_items(cls, items: Iterable[tuple[bytes, dict[str, Any] | None]]) -> ManagerState:
        """Rebuild from table entries (as written by :meth:`changes`); unknown keys are skipped."""
        state = cls()
        for raw_key, doc in items:
            if doc is None:
                continue
            key = raw_key.decode()
            if key.startswith(_ALERT):
                state.alerts[key[len(_ALERT):]] = TrackedAlert.decode(doc)
            elif key.startswith(_INCIDENT):
                state.incidents[key[len(_INCIDENT):]] = Incident.decode(doc)
            elif key.startswith(_SITE):
                state.sites[key[len(_SITE):]] = SiteWindow.decode(doc)
        return state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ManagerState):
            return NotImplemented
        return (self.alerts, self.incidents, self.sites) == (other.alerts, other.incidents, other.sites)

    __hash__ = None  # type: ignore[assignment]  # mutable
