"""The alert manager's logic without Faust: flood control, escalation, idempotence, replay.

``Topic`` stands in for the one-partition ``alerts`` topic: what the manager
publishes is appended to it (marked as its own) and read back in turn, as the
agent does it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest

from parkwatch.wire.alerts import AlertEvent, Severity, alert_id
from stream_processor.alert_manager import FLOOD, AlertManager
from stream_processor.alert_manager_config import AlertManagerConfig
from stream_processor.alert_manager_state import ManagerState

T0 = 1764189600000
WALL = 1764189700000  # Kafka record time of the events (wall clock)
MIN = 60_000


def _config(**fields: object) -> AlertManagerConfig:
    """The config as the YAML would give it (durations with units)."""
    return AlertManagerConfig.model_validate(fields)


def opened(site: str, n: int, t_ms: int, severity: Severity = "warning") -> AlertEvent:
    device = f"dev-{n:02d}"
    return AlertEvent(alert_id(site, "gw-01", device, "ch4", "limit", t_ms), "open", "limit", "ch4-high",
                      severity, site, "gw-01", device, "ch4", t_ms, t_ms, 30.0 + n, None, None, None,
                      f"ch4 = {30 + n}, above 25")


def changed(event: AlertEvent, state: str, updated_ms: int, **fields: object) -> AlertEvent:
    return replace(event, state=state, updated_ms=updated_ms, **fields)  # type: ignore[arg-type]


@dataclass
class Entry:
    event: AlertEvent
    record_ms: int
    own: bool


class Topic:
    """The ``alerts`` partition: a log the manager reads in order and appends its events to."""

    def __init__(self, manager: AlertManager) -> None:
        self.manager = manager
        self.log: list[Entry] = []
        self.read = 0

    def produce(self, event: AlertEvent, record_ms: int = WALL) -> None:
        self.log.append(Entry(event, record_ms, False))

    def run(self) -> list[AlertEvent]:
        """Read to the end (including what gets published meanwhile); returns what was published."""
        published = []
        while self.read < len(self.log):
            entry = self.log[self.read]
            self.read += 1
            out = self.manager.apply(entry.event, entry.record_ms, own=entry.own)
            self.log.extend(Entry(e, entry.record_ms, True) for e in out)
            published += out
        return published

    def tick(self, now_ms: int) -> list[AlertEvent]:
        out = self.manager.tick(now_ms)
        self.log.extend(Entry(e, now_ms, True) for e in out)
        return out + self.run()

    def latest(self, aid: str) -> AlertEvent:
        """What a consumer keeping the newest ``updated_ms`` (first seen on a tie) holds."""
        best: AlertEvent | None = None
        for entry in self.log:
            if entry.event.id == aid and (best is None or entry.event.updated_ms > best.updated_ms):
                best = entry.event
        assert best is not None
        return best


def burst(topic: Topic, site: str, count: int, spacing_ms: int = 5000) -> list[AlertEvent]:
    events = [opened(site, n, T0 + n * spacing_ms) for n in range(count)]
    for event in events:
        topic.produce(event)
    return events


def incidents(topic: Topic) -> set[str]:
    return {e.event.id for e in topic.log if e.event.kind == FLOOD}


# ---- flood control -----------------------------------------------------------------------------

def test_a_burst_at_one_site_opens_one_incident_that_groups_every_member() -> None:
    topic = Topic(AlertManager(_config()))
    members = burst(topic, "north", 12)
    published = topic.run()

    (incident_id,) = incidents(topic)
    assert incident_id == alert_id("north", "", "", "", "flood", T0)
    incident = topic.latest(incident_id)
    assert (incident.state, incident.kind, incident.rule, incident.site, incident.device) == (
        "open", "flood", "flood", "north", "")
    assert incident.value == 12.0 and incident.message == "12 alerts at north in 10 min"
    counts = [e.value for e in published if e.kind == FLOOD]
    assert counts == [10.0, 11.0, 12.0], "opened at the 10th, then each later member counted"
    for member in members:
        now = topic.latest(member.id)
        assert now.group == incident_id
        assert now == replace(member, group=incident_id, updated_ms=now.updated_ms), "only group changes"
        assert now.updated_ms > member.updated_ms
    assert not topic.run() and topic.tick(WALL + 1000) == [], "nothing more without new events"


def test_incident_events_and_member_updates_never_count_as_alerts_opened() -> None:
    topic = Topic(AlertManager(_config(flood_threshold=3)))
    burst(topic, "north", 3)
    first = topic.run()
    # The same events again (a worker's replay, the manager's own read back): nothing new.
    for entry in list(topic.log):
        topic.log.append(replace(entry))
    assert topic.run() == [] and first and len(incidents(topic)) == 1


def test_alerts_further_apart_than_the_window_or_at_other_sites_do_not_flood() -> None:
    topic = Topic(AlertManager(_config()))
    burst(topic, "north", 12, spacing_ms=70_000)  # any 10 of them span more than 10 min
    for n in range(5):
        topic.produce(opened("south", n, T0 + n * 1000))
        topic.produce(opened("east", n, T0 + n * 1000))
    assert topic.run() == []


def test_late_arrivals_are_judged_by_event_time() -> None:
    topic = Topic(AlertManager(_config()))
    events = [opened("north", n, T0 + n * 1000) for n in range(10)]
    for event in reversed(events):  # a backlog in reverse order: still ten in ten minutes
        topic.produce(event)
    topic.run()
    (incident_id,) = incidents(topic)
    assert incident_id == alert_id("north", "", "", "", "flood", T0)


def test_the_incident_resolves_once_every_member_is_resolved_or_suppressed() -> None:
    topic = Topic(AlertManager(_config(flood_threshold=3)))
    members = burst(topic, "north", 3)
    topic.run()
    (incident_id,) = incidents(topic)
    topic.produce(changed(members[0], "resolved", T0 + MIN))
    topic.produce(changed(members[1], "suppressed", T0 + MIN))
    topic.run()
    assert topic.latest(incident_id).state == "open"
    topic.produce(changed(members[2], "resolved", T0 + 2 * MIN))
    topic.run()
    resolved = topic.latest(incident_id)
    assert resolved.state == "resolved" and resolved.updated_ms == T0 + 2 * MIN, "when the last one went"
    assert resolved.message == "flood at north over: all 3 alerts resolved or suppressed"
    # Resolved members keep their group for consumers (the worker's event had none).
    assert topic.latest(members[0].id).group == incident_id
    # The next burst is a new incident.
    topic.log.extend(Entry(opened("north", n, T0 + 3 * MIN + n), WALL, False) for n in range(10, 13))
    topic.run()
    assert len(incidents(topic)) == 2


def test_the_incident_resolves_after_a_quiet_period_and_members_then_escalate() -> None:
    config = _config(flood_threshold=3, flood_quiet="10m", escalate_after="15m")
    topic = Topic(AlertManager(config))
    members = burst(topic, "north", 4)
    topic.run()
    (incident_id,) = incidents(topic)
    assert topic.tick(WALL + 10 * MIN - 1) == []
    (over,) = topic.tick(WALL + 10 * MIN)
    assert (over.id, over.state, over.message) == (incident_id, "resolved",
                                                   "flood at north over: no new alert for 10 min")
    # Its members are still open and nobody acknowledged the incident: now they escalate.
    escalated = topic.tick(WALL + 15 * MIN)
    assert {e.id for e in escalated} == {m.id for m in members}
    assert all(e.escalation == 1 and e.group == incident_id for e in escalated)


def test_a_later_member_raises_the_incident_severity() -> None:
    topic = Topic(AlertManager(_config(flood_threshold=3)))
    burst(topic, "north", 3)
    topic.run()
    topic.produce(opened("north", 7, T0 + MIN, severity="critical"))
    member, update = topic.run()
    assert (member.group, update.kind, update.severity, update.value) == (update.id, FLOOD, "critical", 4.0)


def test_incident_ids_are_never_reused() -> None:
    topic = Topic(AlertManager(_config(flood_threshold=2)))
    first = [opened("north", n, T0) for n in range(2)]
    for event in first:
        topic.produce(event)
    topic.run()
    for event in first:
        topic.produce(changed(event, "resolved", T0 + 1000))
    # A second burst starting at the same millisecond (another device pair).
    for n in (5, 6):
        topic.produce(opened("north", n, T0))
    topic.run()
    ids = incidents(topic)
    assert len(ids) == 2 and alert_id("north", "", "", "", "flood", T0 + 1) in ids


# ---- escalation ----------------------------------------------------------------------------------

def test_an_unacknowledged_alert_escalates_every_interval_up_to_the_cap() -> None:
    topic = Topic(AlertManager(_config(escalate_after="15m", max_escalations=2)))
    alert = opened("north", 1, T0, severity="info")
    topic.produce(alert, record_ms=WALL)
    topic.run()
    assert topic.tick(WALL + 15 * MIN - 1) == []
    (first,) = topic.tick(WALL + 15 * MIN + 123)
    assert (first.id, first.state, first.escalation, first.severity) == (alert.id, "open", 1, "warning")
    assert first.updated_ms == WALL + 15 * MIN, "the due time, whenever the check ran"
    assert first.message == "escalated (1), not acknowledged for 15 min: ch4 = 31, above 25"
    assert topic.tick(WALL + 20 * MIN) == []
    (second,) = topic.tick(WALL + 30 * MIN)
    assert (second.escalation, second.severity) == (2, "critical")
    assert second.message == "escalated (2), not acknowledged for 30 min: ch4 = 31, above 25"
    assert topic.tick(WALL + 300 * MIN) == [], "capped"


def test_acknowledged_alerts_do_not_escalate_even_when_the_ack_crossed_an_escalation() -> None:
    topic = Topic(AlertManager(_config(escalate_after="15m")))
    calm, late = opened("north", 1, T0), opened("north", 2, T0)
    topic.produce(calm)
    topic.produce(late)
    topic.run()
    topic.produce(changed(calm, "acknowledged", WALL + MIN, message="acknowledge by ops"))
    topic.run()
    (escalated,) = topic.tick(WALL + 15 * MIN)
    assert escalated.id == late.id
    # The API acknowledged ``late`` a moment before the escalation was due; the event arrives after it.
    topic.produce(changed(late, "acknowledged", WALL + 15 * MIN - 10, message="acknowledge by ops"))
    (repair,) = topic.run()
    assert (repair.state, repair.escalation, repair.severity) == ("acknowledged", 1, "critical")
    assert topic.latest(late.id) == repair, "consumers end with acknowledged"
    assert topic.tick(WALL + 60 * MIN) == []
    # An open re-fire of an acknowledged alert does not restart escalation either.
    topic.produce(changed(calm, "open", WALL + 61 * MIN))
    topic.run()
    assert topic.tick(WALL + 120 * MIN) == []


def test_members_of_an_active_incident_wait_but_the_incident_escalates() -> None:
    topic = Topic(AlertManager(_config(flood_threshold=3, escalate_after="15m", flood_quiet="1h")))
    burst(topic, "north", 3)
    topic.run()
    (incident_id,) = incidents(topic)
    (escalated,) = topic.tick(WALL + 15 * MIN)
    assert (escalated.id, escalated.escalation, escalated.severity) == (incident_id, 1, "critical")
    # Acknowledging the incident covers its members, also after it resolved.
    topic.produce(changed(escalated, "acknowledged", WALL + 16 * MIN))
    topic.run()
    assert topic.tick(WALL + 61 * MIN)[0].state == "resolved"
    assert topic.tick(WALL + 120 * MIN) == []


def test_shelving_pauses_escalation_and_reopening_restarts_its_clock() -> None:
    topic = Topic(AlertManager(_config(escalate_after="15m")))
    alert = opened("north", 1, T0)
    topic.produce(alert)
    topic.produce(changed(alert, "shelved", WALL + MIN), record_ms=WALL + MIN)
    topic.run()
    assert topic.tick(WALL + 30 * MIN) == []
    topic.produce(changed(alert, "open", WALL + 40 * MIN, message="unshelve by system"),
                  record_ms=WALL + 40 * MIN)
    topic.run()
    assert topic.tick(WALL + 54 * MIN) == []
    (escalated,) = topic.tick(WALL + 55 * MIN)
    assert escalated.message == "escalated (1), not acknowledged for 15 min: unshelve by system"


def test_escalation_can_be_turned_off() -> None:
    topic = Topic(AlertManager(AlertManagerConfig.model_validate({"escalate_after": None})))
    topic.produce(opened("north", 1, T0))
    topic.run()
    assert topic.tick(WALL + 10_000 * MIN) == []


# ---- events of other producers ------------------------------------------------------------------

def test_an_event_that_drops_the_managers_fields_is_corrected() -> None:
    topic = Topic(AlertManager(_config(flood_threshold=3, escalate_after="15m")))
    members = burst(topic, "north", 3)
    topic.run()
    (incident_id,) = incidents(topic)
    refire = changed(members[0], "open", T0 + MIN, value=44.0, severity="critical")  # a rule re-fires
    topic.produce(refire)
    (repair,) = topic.run()
    assert repair == replace(refire, group=incident_id, updated_ms=T0 + MIN + 1)
    assert topic.latest(members[0].id) == repair


def test_a_resolution_older_than_an_acknowledgement_still_resolves() -> None:
    """Event time behind the wall clock (a backlog): the worker's ``resolved`` is older than the ack."""
    topic = Topic(AlertManager(_config()))
    alert = opened("north", 1, T0)
    topic.produce(alert)
    topic.produce(changed(alert, "acknowledged", WALL + MIN))
    topic.produce(changed(alert, "resolved", T0 + 30_000))
    (again,) = topic.run()
    assert (again.state, again.updated_ms) == ("resolved", WALL + MIN + 1)
    assert topic.latest(alert.id) == again
    topic.produce(changed(alert, "acknowledged", WALL + MIN))  # replayed: changes nothing
    assert topic.run() == []


def test_an_alert_firing_again_after_it_resolved_reopens_and_counts_again() -> None:
    topic = Topic(AlertManager(_config(flood_threshold=3, escalate_after="15m")))
    first = opened("north", 1, T0)
    topic.produce(first)
    topic.produce(changed(first, "acknowledged", T0 + 30_000))
    topic.produce(changed(first, "resolved", T0 + MIN))
    again = changed(first, "open", T0 + 2 * MIN, message="ch4 = 40, above 25 (again)")
    topic.produce(again, record_ms=WALL + 2 * MIN)
    assert topic.run() == [] and topic.latest(first.id) == again
    (escalated,) = topic.tick(WALL + 17 * MIN)
    assert escalated.id == first.id, "a new activation wants a new acknowledgement"
    # It counts as opened at its new time: with two more, a flood starting then.
    for n in (2, 3):
        topic.produce(opened("north", n, T0 + (n + 1) * MIN))
    topic.run()
    assert incidents(topic) == {alert_id("north", "", "", "", "flood", T0 + 2 * MIN)}
    assert topic.latest(first.id).group is not None


# ---- state, replay and determinism ----------------------------------------------------------------

def _scenario(manager: AlertManager) -> Topic:
    """A burst with late members, resolutions, acknowledgements and escalations, all on one log."""
    topic = Topic(manager)
    members = burst(topic, "north", 12)
    topic.produce(opened("south", 1, T0))
    topic.run()
    topic.tick(WALL + 15 * MIN)
    topic.produce(changed(members[3], "resolved", T0 + 20 * MIN))
    topic.produce(changed(members[4], "acknowledged", WALL + 16 * MIN))
    topic.produce(opened("north", 20, T0 + 21 * MIN))
    topic.run()
    topic.tick(WALL + 30 * MIN)
    return topic


def _replay(topic: Topic, state_after: int, resume_at: int) -> tuple[AlertManager, list[AlertEvent]]:
    """A new owner: the state as saved after offset ``state_after``, reading from ``resume_at``."""
    original = AlertManager(topic.manager.config)
    saved: dict[bytes, object] = {}
    for entry in topic.log[:state_after + 1]:
        original.apply(entry.event, entry.record_ms, own=entry.own)
        for key, value in original.state.changes():
            saved[key] = json.loads(json.dumps(value))  # through the table's JSON codec
    manager = AlertManager(topic.manager.config, ManagerState.from_items(saved.items()))  # type: ignore[arg-type]
    emitted = []
    for entry in topic.log[resume_at:]:
        emitted += manager.apply(entry.event, entry.record_ms, own=entry.own)
    return manager, emitted


@pytest.mark.parametrize(("state_after", "resume_at"),
                         [(-1, 0), (5, 3), (9, 10), (14, 2), (30, 31), (40, 20)])
def test_a_new_owner_replaying_from_any_checkpoint_re_emits_identical_events_only(
    state_after: int, resume_at: int
) -> None:
    config = _config(escalate_after="15m")
    topic = _scenario(AlertManager(config))
    assert len(topic.log) > 40
    manager, emitted = _replay(topic, state_after, resume_at)
    on_topic = {e.event.encode() for e in topic.log if e.own}
    assert {e.encode() for e in emitted} <= on_topic, "a replay publishes nothing new"
    assert manager.state == topic.manager.state, "and ends in the same state"
    later = manager.tick(WALL + 30 * MIN)  # a step left for the next check (one per check)
    assert later == topic.manager.tick(WALL + 30 * MIN)
    assert not {e.encode() for e in later} & on_topic, "no escalation twice"


def test_the_state_survives_the_table_codec() -> None:
    topic = _scenario(AlertManager(_config(escalate_after="15m")))
    writes = {key: json.loads(json.dumps(value)) for key, value in topic.manager.state.changes()}
    assert ManagerState.from_items(writes.items()) == topic.manager.state


def test_forgetting_drops_long_resolved_alerts_but_not_members_of_an_active_incident() -> None:
    manager = AlertManager(_config(flood_threshold=3, forget_after="1h", flood_quiet="1000h",
                                              escalate_after=None))
    topic = Topic(manager)
    members = burst(topic, "north", 3)
    lone = opened("south", 1, T0)
    topic.produce(lone)
    topic.produce(changed(lone, "resolved", T0 + 1000))
    topic.produce(changed(members[0], "resolved", T0 + 1000))
    topic.run()
    manager.state.changes()
    topic.tick(WALL + 2 * 3600_000)
    assert lone.id not in manager.state.alerts and "south" not in manager.state.sites
    assert members[0].id in manager.state.alerts
    assert (b"alert/" + lone.id.encode(), None) in manager.state.changes()


def test_an_incident_known_only_from_its_events_is_adopted() -> None:
    """The topic's retention dropped the first opens: the manager's own events rebuild the incident."""
    first = _scenario(AlertManager(_config(flood_quiet="1h")))
    topic = Topic(AlertManager(_config(flood_quiet="1h")))
    topic.log = [e for e in first.log if e.own]
    assert topic.run() == []
    (incident_id,) = incidents(first)
    assert topic.manager.state.sites["north"].incident == incident_id
    topic.produce(opened("north", 30, T0 + 22 * MIN))
    member, update = topic.run()
    assert (member.group, update.id, update.value) == (incident_id, incident_id, 14.0)
