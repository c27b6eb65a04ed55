"""Live values' fan-out without InfluxDB: sites, masking, rounds of changes, a client that fell behind.

The polling against the real InfluxDB is in ``tests/test_api_stream.py``.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from cloud_api.accounts import Principal
from cloud_api.live_values import LiveValue, LiveValues
from cloud_api.stream_hub import QUEUE_MAX, StreamHub, Subscriber

CH4 = LiveValue("north", "gw", "gas-01", "ch4", 1000, 12.5, "good")
FLOW = LiveValue("north", "gw", "flow-01", "rate", 1000, 4242.5, "good")
SOUTH = LiveValue("south", "gw", "gas-02", "h2s", 1000, 3.0, "good")


def _feed() -> LiveValues:
    registry = SimpleNamespace(
        classify=lambda s, g, d, p: "sensitive" if d.startswith("flow") else "internal"
    )
    services: Any = SimpleNamespace(registry=registry)
    return LiveValues(services, StreamHub(services))


def _sent(sub: Subscriber) -> list[list[dict[str, Any]]]:
    rounds = []
    while not sub.queue.empty():
        seq, text = sub.queue.get_nowait()
        assert seq is None
        rounds.append(json.loads(text)["items"])
    return rounds


def test_each_watcher_gets_its_sites_masked_by_role_then_only_changes() -> None:
    feed = _feed()
    admin = Subscriber(Principal("ada", "admin", None), values=True)
    inspector = Subscriber(Principal("ines", "inspector", frozenset({"north"})), values=True)
    viewer = Subscriber(Principal("vic", "viewer", None), values=True)
    audits = feed.fan_out([admin, inspector, viewer], feed._merge([CH4, FLOW, SOUTH]))
    (admin_round,), (inspector_round,), (viewer_round,) = _sent(admin), _sent(inspector), _sent(viewer)
    assert [(v["point"], v["value"], v["masked"]) for v in admin_round] == [
        ("ch4", 12.5, False), ("rate", 4242.5, False), ("h2s", 3.0, False)
    ]  # fmt: skip
    assert [(v["point"], v["value"], v["masked"]) for v in inspector_round] == [
        ("ch4", 12.5, False), ("rate", None, True)
    ]  # fmt: skip
    assert [v["value"] for v in viewer_round] == [12.5, None, 3.0]
    assert audits == [(admin, ["north/gw/flow-01/rate"])]

    # Next round: only what changed; a cleared watcher's receipt of a sensitive point is audited once.
    changed = feed._merge([LiveValue("north", "gw", "gas-01", "ch4", 2000, 13.0, "good"), FLOW, SOUTH])
    assert feed.fan_out([admin, inspector, viewer], changed) == []
    assert [[v["value"] for v in r] for r in _sent(admin)] == [[13.0]]
    assert feed.fan_out([admin], feed._merge([CH4, FLOW, SOUTH])) == []  # CH4's older reading: ignored
    assert _sent(admin) == []


def test_a_watcher_that_fell_behind_skips_rounds_then_gets_every_value() -> None:
    feed = _feed()
    slow = Subscriber(Principal("vic", "viewer", None), values=True)
    feed.fan_out([slow], feed._merge([CH4, SOUTH]))
    for _ in range(QUEUE_MAX // 2):
        slow.queue.put_nowait((1, "alert"))
    feed.fan_out([slow], feed._merge([LiveValue("north", "gw", "gas-01", "ch4", 2000, 13.0, "good")]))
    assert slow.queue.qsize() == QUEUE_MAX // 2 + 1 and not slow.overflowed
    while not slow.queue.empty():
        slow.queue.get_nowait()
    feed.fan_out([slow], [])
    assert [[(v["point"], v["value"]) for v in r] for r in _sent(slow)] == [[("ch4", 13.0), ("h2s", 3.0)]]
