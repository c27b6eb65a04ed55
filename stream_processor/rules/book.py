"""The rules a worker applies: the newest version of each rule from the ``rules`` topic.

Records are applied in topic order (one partition): a value replaces the
rule, a tombstone removes it, and a record that does not decode is counted
and skipped, keeping the rule's previous version (a bad record must not
silently switch monitoring off). Lookups per point are cached until the
next change, so the reading path pays one dict lookup per point and record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from parkwatch.errors import FrameError
from parkwatch.wire.rules import GatewayOfflineCondition, Rule, decode_rule

__all__ = ["RuleBook"]

log = logging.getLogger(__name__)

_PointKey = tuple[str, str, str, str]


class RuleBook:
    """Enabled rules by id, with per-point and per-gateway lookups.

    ``tags`` maps ``(site, gateway, device)`` to the tags of its points (the
    device profile's name), for rules scoped by tag.

    >>> from parkwatch.wire.rules import Scope, LimitCondition
    >>> book = RuleBook({("north", "gw", "gas-01"): frozenset({"gas_detector"})})
    >>> rule = Rule(id="lel", version=1, name="LEL", scope=Scope(tag="gas_detector"),
    ...             condition=LimitCondition(high=25), updated_ms=0, updated_by="a")
    >>> book.apply(b"lel", rule.encode())
    >>> [r.id for r in book.for_point("north", "gw", "gas-01", "ch4")]
    ['lel']
    >>> book.for_point("north", "gw", "pt-01", "p")
    ()
    >>> book.apply(b"lel", None)
    >>> book.for_point("north", "gw", "gas-01", "ch4")
    ()
    """

    def __init__(self, tags: Mapping[tuple[str, str, str], frozenset[str]] | None = None) -> None:
        self._tags = dict(tags or {})
        self._rules: dict[str, Rule] = {}
        self._points: dict[_PointKey, tuple[Rule, ...]] = {}
        self._gateways: dict[tuple[str, str], tuple[Rule, ...]] = {}
        #: Changes applied so far, and records refused.
        self.changes = 0
        self.refused = 0

    def __len__(self) -> int:
        return len(self._rules)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One ``rules`` record, in topic order."""
        rule_id = (key or b"").decode(errors="replace")
        if value is None:
            if self._rules.pop(rule_id, None) is not None:
                log.info("rule %s removed", rule_id)
            self._changed()
            return
        try:
            rule = decode_rule(value)
        except FrameError as exc:
            self.refused += 1
            log.error("rules record for %r refused, keeping the previous version: %s", rule_id, exc)
            return
        if rule.id != rule_id:
            self.refused += 1
            log.error("rules record key %r does not match its rule id %r; refused", rule_id, rule.id)
            return
        if rule.enabled:
            self._rules[rule.id] = rule
        else:
            self._rules.pop(rule.id, None)
        log.info("rule %s version %d %s", rule.id, rule.version, "active" if rule.enabled else "disabled")
        self._changed()

    def _changed(self) -> None:
        self.changes += 1
        self._points.clear()
        self._gateways.clear()

    def for_point(self, site: str, gateway: str, device: str, point: str) -> tuple[Rule, ...]:
        """Enabled point rules (every condition but ``gateway_offline``) whose scope holds the point."""
        key = (site, gateway, device, point)
        found = self._points.get(key)
        if found is None:
            tags = self._tags.get((site, gateway, device), frozenset())
            found = self._points[key] = tuple(
                r for r in self._rules.values()
                if not isinstance(r.condition, GatewayOfflineCondition)
                and r.scope.matches(site, gateway, device, point, tags)
            )
        return found

    def for_gateway(self, site: str, gateway: str) -> tuple[Rule, ...]:
        """Enabled ``gateway_offline`` rules whose scope holds the gateway."""
        key = (site, gateway)
        found = self._gateways.get(key)
        if found is None:
            found = self._gateways[key] = tuple(
                r for r in self._rules.values()
                if isinstance(r.condition, GatewayOfflineCondition) and r.scope.matches_gateway(site, gateway)
            )
        return found
