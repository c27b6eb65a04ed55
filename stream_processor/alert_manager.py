"""The alert lifecycle across alerts: flood control and escalation, without Faust.

:class:`AlertManager` folds the ``alerts`` topic, event by event in offset
order, into a :class:`~stream_processor.alert_manager_state.ManagerState` and
answers each step with the events it must publish (already applied to the
state). :mod:`stream_processor.alert_manager_agent` runs it on the worker that
owns the topic's one partition.

**Flood control** (ISA-18.2: ten or more alarms in ten minutes per operator is
a flood). When ``flood_threshold`` alerts not yet grouped opened at one site
with ``started_ms`` inside one ``flood_window`` (event time: when the readings
went wrong, so a backlog replayed after an outage is judged as it happened),
one incident opens: an alert of kind and rule ``flood``, id
``alert_id(site, "", "", "", "flood", first member's started_ms)``, ``value``
= its member count, message ``"12 alerts at north in 10 min"``. Every member
gets an update event with ``group`` = the incident's id (same id and state,
the rest copied from its latest event); alerts opening at the site while the
incident is active join it (an update of the member and one of the incident's
count). Incident events are kind ``flood`` and never count as alerts opened.
The incident resolves when every member is resolved (or suppressed), or when
no member joined for ``flood_quiet`` of wall-clock time: a site that went
silent sends no event time that could close it. While its incident is
active, or once an operator acknowledged the incident, a member is not
escalated on its own: the incident is what operators handle.

**Escalation** is about people not reacting, so it counts wall-clock time:
from the Kafka timestamp of the event that put the alert in ``open`` (when
consumers got it), step *k* is due ``k * escalate_after`` later, up to
``max_escalations``: ``escalation`` + 1, severity one step up (info → warning
→ critical), message ``"escalated (1), not acknowledged for 15 min: ..."`` and
``updated_ms`` = the due time, so a re-emit is identical whenever the check
runs. An acknowledgement stops it (an ``open`` update of the same activation
does not restart it); shelving or suppression pause it, and back in ``open``
the clock starts again.

**Never a loop, never a new id on replay.** The manager's own events come
back on the topic (``own=True``, recognised by the agent from a record
header): they only merge the manager's fields and never trigger anything. An
event the manager publishes is newer (``updated_ms``) than any event of the id
it has seen, so consumers keeping the newest take it. An event from another
producer changes an alert's state only if newer than the last such event (the
manager's annotations do not count), or if it resolves the alert; if it drops
the manager's fields (a rule re-fire has no ``group``) or is older than what
consumers hold, the corrected event follows 1 ms after the newest. An alert
that fires again after it resolved (the same id, ``reopen_within``) counts as
opened again, at the time of the new event, and wants a new acknowledgement.
Everything published is a function of the state and the event (and, for
escalations and quiet floods, of due times computed from the state), so a
replay from an older state re-emits identical events with the same ids;
re-applying events the state already covers changes nothing.

>>> from parkwatch.wire.alerts import alert_id
>>> from stream_processor.alert_manager_config import AlertManagerConfig
>>> manager = AlertManager(AlertManagerConfig(flood_threshold=3))
>>> def opened(n):
...     aid = alert_id("north", "gw-01", f"dev-{n}", "ch4", "limit", 1000 * n)
...     return AlertEvent(aid, "open", "limit", "limit", "warning", "north", "gw-01", f"dev-{n}", "ch4",
...                       1000 * n, 1000 * n, 30.0, None, None, None, "ch4 = 30, above 25")
>>> manager.apply(opened(1), 5000), manager.apply(opened(2), 5000)
([], [])
>>> incident, *members = manager.apply(opened(3), 5000)
>>> incident.kind, incident.value, incident.message
('flood', 3.0, '3 alerts at north in 10 min')
>>> [(m.state, m.group == incident.id) for m in members]
[('open', True), ('open', True), ('open', True)]
>>> [(e.kind, e.value) for e in manager.apply(opened(4), 5000)]  # joins: the member, then the count
[('limit', 30.0), ('flood', 4.0)]
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Final

from parkwatch.wire.alerts import AlertEvent, Severity, alert_id
from stream_processor.alert_manager_config import AlertManagerConfig
from stream_processor.alert_manager_state import Incident, ManagerState, SiteWindow, TrackedAlert

__all__ = ["FLOOD", "AlertManager", "describe_duration"]

#: Kind and rule of a flood incident.
FLOOD: Final = "flood"

_SETTLED: Final = frozenset({"resolved", "suppressed"})
_RANK: Final[dict[str, int]] = {"info": 0, "warning": 1, "critical": 2}
_RAISED: Final[dict[str, Severity]] = {"info": "warning", "warning": "critical", "critical": "critical"}
_NOTE: Final = re.compile(r"^escalated \(\d+\), not acknowledged for [^:]*: ")


def describe_duration(seconds: float) -> str:
    """A duration for people.

    >>> describe_duration(600), describe_duration(2), describe_duration(7200), describe_duration(0.5)
    ('10 min', '2 s', '2 h', '0.5 s')
    """
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _higher(a: Severity, b: Severity | None) -> Severity:
    return a if b is None or _RANK[a] >= _RANK[b] else b


def _split_note(message: str) -> tuple[str, str]:
    """``(escalation note, the message without it)``."""
    match = _NOTE.match(message)
    return (match.group(0), message[match.end():]) if match else ("", message)


class AlertManager:
    """Folds alert events into the state; returns what to publish (see the module docstring).

    Not thread-safe; one caller at a time (the agent holds a lock around each call).
    """

    def __init__(self, config: AlertManagerConfig, state: ManagerState | None = None) -> None:
        self.config = config
        self.state = state if state is not None else ManagerState()

    # ---- events read from the topic -------------------------------------------------------

    def apply(self, event: AlertEvent, record_ms: int, *, own: bool = False) -> list[AlertEvent]:
        """Fold one event; ``record_ms`` is its Kafka timestamp, ``own`` whether the manager sent it."""
        tracked = self.state.alerts.get(event.id)
        if tracked is None:
            return self._first(event, record_ms, own)
        if event == tracked.latest:
            return []
        if own:
            self._merge_own(tracked, event, record_ms)
            return []
        return self._apply_other(tracked, event, record_ms)

    def _first(self, event: AlertEvent, record_ms: int, own: bool) -> list[AlertEvent]:
        tracked = TrackedAlert(
            latest=event, state_ms=event.updated_ms, newest_ms=event.updated_ms,
            acknowledged=event.state == "acknowledged",
            open_since_ms=record_ms if event.state == "open" else None,
            escalation_base=event.escalation, seen_ms=record_ms,
            severity_floor=event.severity if event.escalation else None,
        )
        self.state.alerts[event.id] = tracked
        self.state.touch_alert(event.id)
        if event.kind == FLOOD:  # an incident the state lost, read back: adopt it
            self._adopt_incident(event, record_ms)
        elif event.group is not None:
            self._adopt_member(event.id, event.group)
        elif event.state == "open" and not own:
            return self._opened(tracked, record_ms)
        return []

    def _merge_own(self, tracked: TrackedAlert, event: AlertEvent, record_ms: int) -> None:
        """One of the manager's events read back that the state does not have (it was lost)."""
        latest = tracked.latest
        tracked.newest_ms = max(tracked.newest_ms, event.updated_ms)
        changes: dict[str, Any] = {}
        if event.group is not None and latest.group != event.group:
            changes["group"] = event.group
        if event.escalation > latest.escalation:
            changes.update(escalation=event.escalation, severity=_higher(latest.severity, event.severity),
                           message=event.message)
            tracked.severity_floor = _higher(event.severity, tracked.severity_floor)
        if latest.kind == FLOOD and (event.value or 0) > (latest.value or 0):
            changes.update(value=event.value, message=event.message)
        if latest.kind == FLOOD and event.state == "resolved" != latest.state:
            changes.update(state="resolved", message=event.message)
        if changes:
            tracked.latest = replace(latest, updated_ms=max(latest.updated_ms, event.updated_ms), **changes)
            if tracked.latest.group is not None:
                self._adopt_member(event.id, tracked.latest.group)
            if tracked.latest.state == "resolved" and latest.kind == FLOOD:
                tracked.seen_ms = record_ms
                self._incident_over(tracked.latest)
        self.state.touch_alert(event.id)

    def _apply_other(self, tracked: TrackedAlert, event: AlertEvent, record_ms: int) -> list[AlertEvent]:
        """An event of a worker or the API for an alert the manager knows."""
        prior = tracked.latest
        newest_before = tracked.newest_ms
        tracked.newest_ms = max(newest_before, event.updated_ms)
        tracked.seen_ms = record_ms
        if event.state == "acknowledged":
            tracked.acknowledged = True  # even when stale: an acknowledgement that crossed an escalation
        self.state.touch_alert(event.id)
        resolves = event.state == "resolved" and prior.state != "resolved"
        if event.updated_ms <= tracked.state_ms and not resolves:
            return []  # older than what its state comes from: a replay, a late event
        tracked.state_ms = max(tracked.state_ms, event.updated_ms)
        reopened = prior.state == "resolved" and event.state == "open"  # fired again (reopen_within)
        group = event.group if event.group is not None else prior.group
        if reopened and event.group is None and group is not None and not self._is_active(group):
            group = None  # a new activation: it may join, or start, another incident
        merged = replace(event, group=group, escalation=max(event.escalation, prior.escalation),
                         severity=_higher(event.severity, tracked.severity_floor))
        tracked.latest = merged
        out = []
        if merged != event or event.updated_ms <= newest_before:
            out.append(self._publish(tracked, max(event.updated_ms, newest_before) + 1))
        if merged.state == "open" and prior.state != "open":
            tracked.open_since_ms = record_ms
            tracked.escalation_base = merged.escalation
            if reopened:
                tracked.acknowledged = False  # a new activation wants a new acknowledgement
        if merged.kind == FLOOD:
            if merged.state == "resolved":
                self._incident_over(merged)
        elif reopened and merged.group is None:
            out += self._opened(tracked, record_ms, merged.updated_ms)
        elif merged.group is not None:
            self._adopt_member(merged.id, merged.group)
            if merged.state in _SETTLED and prior.state not in _SETTLED:
                out += self._maybe_settle(merged.group, merged.updated_ms, record_ms)
        return out

    # ---- flood control ------------------------------------------------------------------

    def _opened(self, tracked: TrackedAlert, record_ms: int, t_ms: int | None = None) -> list[AlertEvent]:
        """An alert opened (or reopened, at ``t_ms``): it joins the site's incident or may start one."""
        event = tracked.latest
        window = self._site(event.site)
        incident = self._active_incident(window)
        if incident is not None:
            return self._join(incident, tracked, record_ms)
        at_ms = event.started_ms if t_ms is None else t_ms
        window.opens[event.id] = at_ms
        self._prune(window)
        members = self._flood_members(window, at_ms)
        return self._open_incident(window, members, event, record_ms) if members else []

    def _flood_members(self, window: SiteWindow, t_ms: int) -> list[str] | None:
        """The earliest window of ``flood_window`` holding ``t_ms`` and at least the threshold."""
        width = round(self.config.flood_window_s * 1000)
        times = sorted((ms, aid) for aid, ms in window.opens.items())
        end = 0
        for i, (start, _) in enumerate(times):
            if start > t_ms:
                break
            if start <= t_ms - width:
                continue
            end = max(end, i)
            while end < len(times) and times[end][0] < start + width:
                end += 1
            if end - i >= self.config.flood_threshold:
                return [aid for _, aid in times[i:end]]
        return None

    def _open_incident(self, window: SiteWindow, member_ids: list[str], trigger: AlertEvent,
                       record_ms: int) -> list[AlertEvent]:
        alerts = self.state.alerts
        members = [alerts[m] for m in member_ids]
        started = min(window.opens[m] for m in member_ids)
        incident_id = alert_id(window.site, "", "", "", FLOOD, started)
        while incident_id in alerts or incident_id in self.state.incidents:  # never reuse an id
            started += 1
            incident_id = alert_id(window.site, "", "", "", FLOOD, started)
        severity: Severity = "info"
        for m in members:
            severity = _higher(severity, m.latest.severity)
        at = trigger.updated_ms
        event = AlertEvent(
            id=incident_id, state="open", kind=FLOOD, rule=FLOOD, severity=severity, site=window.site,
            gateway="", device="", point="", started_ms=started, updated_ms=max(at, started),
            value=float(len(members)), score=None, expected_low=None, expected_high=None,
            message=self._flood_message(len(members), window.site),
        )
        alerts[incident_id] = TrackedAlert(event, event.updated_ms, event.updated_ms,
                                           open_since_ms=record_ms, seen_ms=record_ms)
        self.state.incidents[incident_id] = Incident(incident_id, window.site, list(member_ids), record_ms)
        window.incident = incident_id
        for member_id in member_ids:
            window.opens.pop(member_id, None)
        self.state.touch_alert(incident_id)
        self.state.touch_incident(incident_id)
        self.state.touch_site(window.site)
        out = [event]
        out += [self._publish(m, at, group=incident_id) for m in members]
        return out + self._maybe_settle(incident_id, at, record_ms)

    def _join(self, incident: Incident, tracked: TrackedAlert, record_ms: int) -> list[AlertEvent]:
        incident.members.append(tracked.latest.id)
        incident.last_join_ms = record_ms
        self.state.touch_incident(incident.id)
        at = tracked.latest.updated_ms
        member = self._publish(tracked, at, group=incident.id)
        inc = self.state.alerts[incident.id]
        note, _ = _split_note(inc.latest.message)
        count = len(incident.members)
        update = self._publish(inc, at, value=float(count),
                               severity=_higher(inc.latest.severity, member.severity),
                               message=note + self._flood_message(count, incident.site))
        return [member, update]

    def _maybe_settle(self, incident_id: str, at_ms: int, record_ms: int) -> list[AlertEvent]:
        """Resolve the incident if every member is resolved or suppressed."""
        incident = self.state.incidents.get(incident_id)
        if incident is None or not self._is_active(incident_id):
            return []
        for member in incident.members:
            tracked = self.state.alerts.get(member)
            if tracked is not None and tracked.latest.state not in _SETTLED:
                return []
        message = f"flood at {incident.site} over: all {len(incident.members)} alerts resolved or suppressed"
        return [self._resolve_incident(incident, at_ms, message, record_ms)]

    def _resolve_incident(self, incident: Incident, at_ms: int, message: str, stamp_ms: int) -> AlertEvent:
        tracked = self.state.alerts[incident.id]
        tracked.seen_ms = stamp_ms
        event = self._publish(tracked, at_ms, state="resolved", message=message)
        self._incident_over(event)
        return event

    def _incident_over(self, event: AlertEvent) -> None:
        window = self.state.sites.get(event.site)
        if window is not None and window.incident == event.id:
            window.incident = None
            self.state.touch_site(event.site)

    def _flood_message(self, count: int, site: str) -> str:
        return f"{count} alerts at {site} in {describe_duration(self.config.flood_window_s)}"

    # ---- escalation and housekeeping (wall clock) -----------------------------------------

    def tick(self, now_ms: int) -> list[AlertEvent]:
        """Quiet floods resolve, due escalations happen, long-resolved alerts are forgotten."""
        out = []
        quiet_ms = round(self.config.flood_quiet_s * 1000)
        for incident in list(self.state.incidents.values()):
            due = incident.last_join_ms + quiet_ms
            if self._is_active(incident.id) and now_ms >= due:
                quiet = describe_duration(self.config.flood_quiet_s)
                message = f"flood at {incident.site} over: no new alert for {quiet}"
                out.append(self._resolve_incident(incident, due, message, now_ms))
        for aid in list(self.state.alerts):
            out += self.check_alert(aid, now_ms)
        self._forget(now_ms)
        return out

    def check_alert(self, alert_id: str, now_ms: int) -> list[AlertEvent]:
        """The alert's next escalation if it is due at ``now_ms`` (at most one step per call)."""
        after_s = self.config.escalate_after_s
        tracked = self.state.alerts.get(alert_id)
        if after_s is None or tracked is None or tracked.open_since_ms is None:
            return []
        event = tracked.latest
        if event.state != "open" or tracked.acknowledged or event.escalation >= self.config.max_escalations:
            return []
        if event.group is not None and self._covers(event.group):
            return []
        step = event.escalation - tracked.escalation_base + 1
        due = tracked.open_since_ms + round(step * after_s * 1000)
        if now_ms < due:
            return []
        severity = _RAISED[event.severity]
        tracked.severity_floor = severity
        note = (f"escalated ({event.escalation + 1}), not acknowledged for "
                f"{describe_duration(step * after_s)}: ")
        return [self._publish(tracked, due, escalation=event.escalation + 1, severity=severity,
                              message=note + _split_note(event.message)[1])]

    def _forget(self, now_ms: int) -> None:
        keep_ms = round(self.config.forget_after_s * 1000)
        state = self.state
        for aid, tracked in list(state.alerts.items()):
            group = tracked.latest.group
            if (tracked.latest.state != "resolved" or now_ms < tracked.seen_ms + keep_ms
                    or (group is not None and self._is_active(group))):
                continue
            del state.alerts[aid]
            state.touch_alert(aid)
            if state.incidents.pop(aid, None) is not None:
                state.touch_incident(aid)
        for name, window in list(state.sites.items()):
            gone = [aid for aid in window.opens if aid not in state.alerts]
            for aid in gone:
                del window.opens[aid]
            if gone:
                state.touch_site(name)
            if not window.opens and self._active_incident(window) is None:
                del state.sites[name]
                state.touch_site(name)

    # ---- helpers ------------------------------------------------------------------------

    def _publish(self, tracked: TrackedAlert, at_ms: int, **changes: Any) -> AlertEvent:
        """A new event of ``tracked`` at ``at_ms`` or just after the newest one of its id."""
        event = replace(tracked.latest, updated_ms=max(at_ms, tracked.newest_ms + 1), **changes)
        tracked.latest = event
        tracked.newest_ms = event.updated_ms
        self.state.touch_alert(event.id)
        return event

    def _site(self, site: str) -> SiteWindow:
        window = self.state.sites.get(site)
        if window is None:
            window = self.state.sites[site] = SiteWindow(site)
        self.state.touch_site(site)
        return window

    def _prune(self, window: SiteWindow) -> None:
        """Forget opens too old to share a window with the newest (with a window's margin for
        late arrivals), and those whose alert was forgotten."""
        cutoff = max(window.opens.values()) - 2 * round(self.config.flood_window_s * 1000)
        for aid in [a for a, ms in window.opens.items() if ms < cutoff or a not in self.state.alerts]:
            del window.opens[aid]

    def _active_incident(self, window: SiteWindow) -> Incident | None:
        if window.incident is None:
            return None
        incident = self.state.incidents.get(window.incident)
        if incident is None or not self._is_active(window.incident):
            window.incident = None
            self.state.touch_site(window.site)
            return None
        return incident

    def _is_active(self, incident_id: str) -> bool:
        tracked = self.state.alerts.get(incident_id)
        return tracked is not None and tracked.latest.state != "resolved"

    def _covers(self, incident_id: str) -> bool:
        """Whether the incident stands for its members: active, or acknowledged by an operator."""
        tracked = self.state.alerts.get(incident_id)
        return tracked is not None and (tracked.latest.state != "resolved" or tracked.acknowledged)

    def _adopt_incident(self, event: AlertEvent, record_ms: int) -> None:
        if event.id not in self.state.incidents:
            self.state.incidents[event.id] = Incident(event.id, event.site, [], record_ms)
            self.state.touch_incident(event.id)
        if event.state != "resolved":
            window = self._site(event.site)
            if self._active_incident(window) is None:
                window.incident = event.id

    def _adopt_member(self, alert_id: str, group: str) -> None:
        incident = self.state.incidents.get(group)
        if incident is not None and alert_id not in incident.members:
            incident.members.append(alert_id)
            self.state.touch_incident(group)
        window = self.state.sites.get(self.state.alerts[alert_id].latest.site)
        if window is not None and window.opens.pop(alert_id, None) is not None:
            self.state.touch_site(window.site)
