"""The alert manager in a real ``parkwatch processor worker`` (subprocess) against the session's Tansu.

Alert events go straight to the ``alerts`` topic, as workers and the API write them:

* 12 alerts opened at one site within a minute become exactly one ``flood`` incident
  counting 12, and every one of them is published again with ``group`` = its id;
* with ``escalate_after: 2s`` an open alert is escalated (twice, the cap here) and one
  acknowledged right away is not, nor is any member of the active incident;
* a worker killed with kill -9 and started again takes the state over from the changelog
  and re-reads what was not committed: a 13th alert joins the same incident (no second
  incident id), and nothing is escalated again (re-emitted events, if any, are identical).

The topic is shared with the session's other tests, so each site name is unique.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka.structs import ConsumerRecord

from parkwatch.errors import FrameError
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent, Severity, alert_id
from parkwatch.wire.topics import KAFKA_ALERTS
from stream_processor.testing import Component, consume
from tests.test_api_stream import produce

pytestmark = pytest.mark.services

WORKER_CONFIG = """\
alert_manager:
  escalate_after: 2s
  max_escalations: 2
  check_interval: 500ms
kafka:
  session_timeout: 6s
  rebalance_timeout: 6s
"""
OWN = ("parkwatch-origin", b"alert-manager")


def _opened(site: str, device: str, t_ms: int, severity: Severity = "warning") -> AlertEvent:
    return AlertEvent(alert_id(site, "gw-01", device, "ch4", "ch4-high", t_ms), "open", "limit", "ch4-high",
                      severity, site, "gw-01", device, "ch4", t_ms, t_ms, 31.0, None, None, None,
                      "ch4 = 31, above high limit 25")


class Sites:
    """This test's events on the shared topic, by alert id in topic order."""

    def __init__(self, settings: Settings, *sites: str) -> None:
        self.settings = settings
        self.sites = set(sites)
        self.records: list[ConsumerRecord[bytes, bytes]] = []

    def _mine(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        try:
            return AlertEvent.decode(record.value).site in self.sites
        except FrameError:
            return False

    def read_until(self, what: str, done: Callable[[Sites], bool], timeout_s: float,
                   workers: list[Component]) -> None:
        self.read(done, timeout_s)
        if not done(self):
            tails = "\n".join(f"--- {w.log_path.name}\n{w.log_text()[-4000:]}" for w in workers)
            raise AssertionError(f"timed out waiting for {what}; events: {self.summary()}\n{tails}")

    def read(self, done: Callable[[Sites], bool], timeout_s: float) -> None:
        def check(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
            self.records = records
            return done(self)

        asyncio.run(consume(self.settings, KAFKA_ALERTS, check, keep=self._mine, timeout_s=timeout_s))

    def events(self, site: str | None = None) -> list[AlertEvent]:
        out = [AlertEvent.decode(r.value) for r in self.records]
        return [e for e in out if site is None or e.site == site]

    def latest(self) -> dict[str, AlertEvent]:
        """Per id what a consumer keeping the newest ``updated_ms`` holds."""
        best: dict[str, AlertEvent] = {}
        for event in self.events():
            if event.id not in best or event.updated_ms > best[event.id].updated_ms:
                best[event.id] = event
        return best

    def floods(self, site: str) -> set[str]:
        return {e.id for e in self.events(site) if e.kind == "flood"}

    def escalations(self, aid: str) -> dict[int, set[bytes]]:
        """Escalation level -> the distinct events of ``aid`` carrying it."""
        levels: dict[int, set[bytes]] = defaultdict(set)
        for event in self.events():
            if event.id == aid and event.escalation:
                levels[event.escalation].add(event.encode())
        return dict(levels)

    def summary(self) -> list[tuple[str, str, str, str | None, int, float | None]]:
        return [(e.site, e.id[:8], e.state, e.group and e.group[:8], e.escalation, e.value)
                for e in self.events()]


def _start(tmp_path: Path, name: str) -> Component:
    config = tmp_path / "processor.yaml"
    config.write_text(WORKER_CONFIG)
    worker = Component(["processor", "worker", "--config", str(config)], tmp_path / f"{name}.log")
    try:
        worker.wait_for_log("alert manager caught up", 120)
    except BaseException:
        worker.stop()
        raise
    return worker


def test_a_burst_becomes_one_incident_escalation_spares_the_acknowledged_and_a_restart_repeats_nothing(
    stack: Settings, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    flood_site, esc_site, ack_site = f"flood-{tag}", f"esc-{tag}", f"ack-{tag}"
    t0 = int(time.time() * 1000) - 60_000
    burst = [_opened(flood_site, f"gas-{n:02d}", t0 + n * 5000) for n in range(12)]
    ignored = _opened(esc_site, "gas-01", t0 + 30_000)
    handled = _opened(ack_site, "gas-01", t0 + 30_000)
    ack = replace(handled, state="acknowledged", updated_ms=handled.updated_ms + 1,
                  message="acknowledge by test")
    incident_id = alert_id(flood_site, "", "", "", "flood", t0)
    seen = Sites(stack, flood_site, esc_site, ack_site)

    worker = _start(tmp_path, "worker-1")
    second: Component | None = None
    try:
        asyncio.run(produce(stack, ignored, handled, ack, *burst))

        def settled(s: Sites) -> bool:
            latest = s.latest()
            return (incident_id in latest and latest[incident_id].value == 12.0
                    and all(latest.get(m.id, m).group == incident_id for m in burst)
                    and 2 in s.escalations(ignored.id))

        seen.read_until("the incident of 12 and two escalations", settled, 60, [worker])
        latest = seen.latest()

        assert seen.floods(flood_site) == {incident_id}, seen.summary()
        incident = latest[incident_id]
        assert (incident.kind, incident.rule, incident.state) == ("flood", "flood", "open")
        assert (incident.gateway, incident.device, incident.point) == ("", "", "")
        assert incident.message.endswith(f"12 alerts at {flood_site} in 10 min"), incident.message
        counts = [e.value for e in seen.events(flood_site) if e.id == incident_id]
        assert counts[0] == 10.0 and 12.0 in counts
        for member in burst:
            now = latest[member.id]
            assert now == replace(member, group=incident_id, updated_ms=now.updated_ms), now
            assert not seen.escalations(member.id), "members of an active incident wait for it"

        levels = seen.escalations(ignored.id)
        assert sorted(levels) == [1, 2] and all(len(v) == 1 for v in levels.values()), levels
        first = AlertEvent.decode(next(iter(levels[1])))
        assert (first.state, first.severity) == ("open", "critical")
        assert first.message == "escalated (1), not acknowledged for 2 s: ch4 = 31, above high limit 25"
        assert not seen.escalations(handled.id), "an acknowledged alert is not escalated"
        assert latest[handled.id].state == "acknowledged"
        assert all(OWN in r.headers for r in seen.records
                   if AlertEvent.decode(r.value).kind == "flood"), "the manager marks its events"

        worker.kill()  # no commit, no last changelog flush, no goodbye to the group
        second = _start(tmp_path, "worker-2")
        late = _opened(flood_site, "gas-99", t0 + 60_000, severity="critical")
        asyncio.run(produce(stack, late))

        def joined(s: Sites) -> bool:
            now = s.latest()
            return late.id in now and now[late.id].group is not None and now[incident_id].value == 13.0

        seen.read_until("the 13th alert joining the incident", joined, 30, [second])
        time.sleep(3.0)  # six checks of the new owner: room for a repeated escalation
        seen.read(lambda s: False, 3)  # everything there is
        latest = seen.latest()
        assert seen.floods(flood_site) == {incident_id}, "the restarted worker kept the incident"
        assert latest[late.id].group == incident_id
        assert (latest[incident_id].value, latest[incident_id].severity) == (13.0, "critical")
        assert {k: len(v) for k, v in seen.escalations(ignored.id).items()} == {1: 1, 2: 1}, \
            "nothing escalated again"
        assert not seen.escalations(handled.id)
        assert max(e.escalation for e in seen.events()) <= 2
        assert second.stop() == 0, second.log_text()[-3000:]
    finally:
        worker.stop()
        if second is not None:
            second.stop()
