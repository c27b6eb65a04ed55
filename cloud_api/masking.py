"""Hiding sensitive values from roles without clearance, and logging who saw them.

An alert on a sensitive point carries the value in ``value``, ``expected_low``,
``expected_high``, ``score`` and its ``message``; all of them are masked (null,
and a fixed message), in listings, details and history alike. A cleared
caller's read of sensitive data is written to the audit log.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from cloud_api.accounts import Principal
from cloud_api.registry import Registry
from cloud_api.store import AlertHistoryEntry
from parkwatch.wire.alerts import AlertEvent

__all__ = ["MASKED_MESSAGE", "is_sensitive", "mask_event", "mask_history", "must_mask"]

MASKED_MESSAGE: Final = "(masked: sensitive point)"


def is_sensitive(registry: Registry, event: AlertEvent) -> bool:
    return registry.classify(event.site, event.gateway, event.device, event.point) == "sensitive"


def mask_event(event: AlertEvent) -> AlertEvent:
    """The event without its values.

    >>> e = AlertEvent("a", "open", "k", "r", "info", "s", "g", "d", "p", 1, 1, 5.0, 0.9, 1.0, 2.0, "p=5")
    >>> masked = mask_event(e)
    >>> masked.value, masked.expected_high, masked.message
    (None, None, '(masked: sensitive point)')
    """
    return replace(
        event, value=None, score=None, expected_low=None, expected_high=None, message=MASKED_MESSAGE
    )


def mask_history(entry: AlertHistoryEntry) -> AlertHistoryEntry:
    return replace(entry, value=None, score=None, message=MASKED_MESSAGE)


def must_mask(principal: Principal, sensitive: bool) -> bool:
    return sensitive and not principal.cleared
