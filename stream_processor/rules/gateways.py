"""``gateway_offline`` rules over the bridge's gateway events (``gateway-events``, one partition).

The bridge emits ``offline`` when a gateway's retained status turns offline
(its last will) and ``online`` when it is back; the time it observed that is
the event time. An ``offline`` gateway opens each rule in scope once it has
stayed offline ``after`` seconds (checked when the event arrives and by the
owner's timer), started at the offline time, so the id is the same on any
worker and on replay; ``online`` resolves them ("gateway back").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from parkwatch.wire.alerts import AlertEvent, Severity, alert_id
from parkwatch.wire.events import GatewayEvent
from parkwatch.wire.rules import GatewayOfflineCondition
from stream_processor.rules.book import RuleBook

__all__ = ["GatewayState", "GatewayRules"]


@dataclass(slots=True)
class GatewayState:
    """One gateway: since when it is offline (-1: online), and its open alerts by rule id."""

    site: str
    gateway: str
    offline_ms: int = -1
    #: rule id -> (started_ms, severity)
    alerts: dict[str, tuple[int, str]] = field(default_factory=dict)


class GatewayRules:
    """
    >>> from parkwatch.wire.rules import Rule, Scope
    >>> book = RuleBook()
    >>> book.apply(b"gw-off", Rule(id="gw-off", version=1, name="gateway offline", severity="critical",
    ...     scope=Scope(site="north"), condition=GatewayOfflineCondition(after="30s"),
    ...     updated_ms=0, updated_by="a").encode())
    >>> rules, st = GatewayRules(book), GatewayState("north", "gw-01")
    >>> off = GatewayEvent.make("offline", "north", "gw-01", ts_ms=1_000, bridge="b", detail="last will")
    >>> rules.on_event(off, st, now_ms=1_000), [e.message for e in rules.check(st, now_ms=31_000)]
    ([], ['gateway north/gw-01 offline for 30 s'])
    >>> on = GatewayEvent.make("online", "north", "gw-01", ts_ms=40_000, bridge="b", detail="")
    >>> [(e.state, e.updated_ms) for e in rules.on_event(on, st, now_ms=40_000)]
    [('resolved', 40000)]
    """

    def __init__(self, book: RuleBook) -> None:
        self.book = book

    def on_event(self, event: GatewayEvent, st: GatewayState, now_ms: int) -> list[AlertEvent]:
        """Apply one gateway event; events other than offline/online change nothing."""
        if event.kind == "offline":
            if st.offline_ms < 0:
                st.offline_ms = event.ts_ms
            return self.check(st, now_ms)
        if event.kind == "online":
            st.offline_ms = -1
            return self._resolve(st, set(st.alerts), event.ts_ms, "gateway {} back online")
        return []

    def check(self, st: GatewayState, now_ms: int) -> list[AlertEvent]:
        """Open the rules whose delay has passed; resolve the alerts of rules gone away."""
        rules = self.book.for_gateway(st.site, st.gateway)
        events = self._resolve(st, set(st.alerts) - {r.id for r in rules}, now_ms,
                               "gateway {} rule no longer applies")
        if st.offline_ms < 0:
            return events
        for rule in rules:
            after_ms = cast(GatewayOfflineCondition, rule.condition).after * 1000
            if rule.id in st.alerts or now_ms - st.offline_ms < after_ms:
                continue
            st.alerts[rule.id] = (st.offline_ms, rule.severity)
            seconds = max(after_ms, now_ms - st.offline_ms) / 1000
            events.append(self._event(st, rule.id, "open", st.offline_ms, rule.severity, now_ms,
                                      f"gateway {st.site}/{st.gateway} offline for {seconds:.0f} s"))
        return events

    def _resolve(self, st: GatewayState, rule_ids: set[str], ts_ms: int, message: str) -> list[AlertEvent]:
        events = []
        for rule_id in sorted(rule_ids):
            started, severity = st.alerts.pop(rule_id)
            events.append(self._event(st, rule_id, "resolved", started, severity, ts_ms,
                                      message.format(f"{st.site}/{st.gateway}")))
        return events

    @staticmethod
    def _event(st: GatewayState, rule_id: str, state: str, started_ms: int, severity: str, ts_ms: int,
               message: str) -> AlertEvent:
        return AlertEvent(
            id=alert_id(st.site, st.gateway, "", "", rule_id, started_ms),
            state="open" if state == "open" else "resolved",
            kind="gateway", rule=rule_id, severity=cast(Severity, severity),
            site=st.site, gateway=st.gateway, device="", point="",
            started_ms=started_ms, updated_ms=max(ts_ms, started_ms),
            value=None, score=None, expected_low=None, expected_high=None, message=message,
        )
