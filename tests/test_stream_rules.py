"""Rules as data and event time, end to end, against a running ``parkwatch processor worker``
(a subprocess, with the session's real Tansu and InfluxDB).

* Rules published to the compacted ``rules`` topic change what the running worker alerts on,
  within seconds and without a restart (limit, stale, gateway offline).
* A recorded backlog replayed late, in big records, gives the same scores and the same alerts
  as the same readings arriving live one by one.

One worker (``rules_worker`` in ``conftest.py``) runs through the module; each test uses its
own site, so the rules of one test (scoped to its site) never touch another's points.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from parkwatch.influxql import influxql, scalar
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent
from parkwatch.wire.events import KAFKA_GATEWAY_EVENTS, GatewayEvent
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from parkwatch.wire.rules import KAFKA_RULES, Rule, Scope
from stream_processor.alert_manager_agent import ORIGIN, ORIGIN_HEADER
from stream_processor.testing import Component, consume, produce_records

pytestmark = pytest.mark.services


def _site() -> str:
    return f"rules-{uuid.uuid4().hex[:6]}"


def _rule(rule_id: str, version: int, site: str, condition: dict[str, object], *, enabled: bool = True,
          **scope: str) -> Rule:
    return Rule(id=rule_id, version=version, name=rule_id, enabled=enabled, severity="critical",
                scope=Scope(site=site, **scope), condition=condition,
                updated_ms=int(time.time() * 1000), updated_by="test")


async def _send(topic: str, key: bytes, value: bytes | None, settings: Settings) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def _publish(settings: Settings, rule: Rule) -> None:
    asyncio.run(_send(KAFKA_RULES, rule.id.encode(), rule.encode(), settings))


def _readings(settings: Settings, site: str, device: str, point: str, values: list[float], t0: int) -> None:
    records = [DeviceRecord(site, "gw-01", device, i, [Reading(point, t0 + i * 1000, v, "good")])
               for i, v in enumerate(values)]
    asyncio.run(produce_records(settings, records, rate_per_s=50))


def _alerts(settings: Settings, site: str, done, timeout_s: float = 30) -> list[AlertEvent]:  # type: ignore[no-untyped-def]
    """The site's alert events as the workers' rules and detectors published them; the alert
    manager's follow-ups (flood grouping, escalation; tested on their own) are left out."""
    def of_site(rec) -> bool:  # type: ignore[no-untyped-def]
        if (ORIGIN_HEADER, ORIGIN) in (rec.headers or ()):
            return False
        try:
            return AlertEvent.decode(rec.value).site == site
        except Exception:  # noqa: BLE001 - other tests' garbage on the shared topic
            return False

    records = asyncio.run(consume(settings, "alerts",
                                  lambda recs: done([AlertEvent.decode(r.value) for r in recs]),
                                  keep=of_site, timeout_s=timeout_s))
    return [AlertEvent.decode(r.value) for r in records]


def _stored(settings: Settings, site: str, n: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if scalar(settings, f"SELECT count(value) FROM reading WHERE site = '{site}'") >= n:
                return
        except Exception:  # noqa: BLE001 - no such series yet
            pass
        time.sleep(0.3)
    raise AssertionError(f"{n} readings of {site} not stored within {timeout_s} s")


def test_a_limit_rule_published_while_running_takes_effect_then_disabling_resolves(
    stack: Settings, rules_worker: Component
) -> None:
    site = _site()
    t0 = int(time.time() * 1000) - 60_000
    _readings(stack, site, "gas-01", "ch4", [30.0] * 5, t0)  # above 25, but no rule yet
    _stored(stack, site, 5)

    _publish(stack, _rule("ch4-high-" + site, 1, site, {"type": "limit", "high": 25, "hysteresis": 2}))
    published = time.monotonic()
    # Not a fixed sleep: on a busy machine the rule once arrived between the two readings.
    rules_worker.wait_for_log(f"rule ch4-high-{site} version 1 active", 15)
    _readings(stack, site, "gas-01", "ch4", [31.0, 32.0], t0 + 10_000)
    opened = _alerts(stack, site, lambda evs: any(e.kind == "limit" for e in evs))
    assert time.monotonic() - published < 15, "the rule reached the running worker within seconds"
    [event] = [e for e in opened if e.kind == "limit"]
    assert (event.state, event.rule, event.severity) == ("open", "ch4-high-" + site, "critical")
    assert event.started_ms == t0 + 10_000, "readings judged before the rule existed did not alert"
    assert event.message == "ch4 = 31, above high limit 25"

    _publish(stack, _rule("ch4-high-" + site, 2, site, {"type": "limit", "high": 25}, enabled=False))
    rules_worker.wait_for_log(f"rule ch4-high-{site} version 2 disabled", 15)
    _readings(stack, site, "gas-01", "ch4", [33.0], t0 + 20_000)
    events = _alerts(stack, site, lambda evs: any(e.state == "resolved" for e in evs))
    assert [(e.id, e.state) for e in events] == [(event.id, "open"), (event.id, "resolved")]
    assert events[1].message == f"rule ch4-high-{site} no longer applies to ch4"


def test_a_stale_rule_opens_when_a_point_goes_quiet_and_resolves_when_it_reports(
    stack: Settings, rules_worker: Component
) -> None:
    site = _site()
    _publish(stack, _rule("quiet-" + site, 1, site, {"type": "stale", "after": "3s"}, device="pt-01"))
    rules_worker.wait_for_log(f"rule quiet-{site} version 1 active", 15)
    now = int(time.time() * 1000)
    _readings(stack, site, "pt-01", "pressure", [1.2], now)
    _readings(stack, site, "pt-02", "pressure", [1.3], now)  # out of the rule's scope
    events = _alerts(stack, site, lambda evs: any(e.kind == "stale" for e in evs))
    [stale] = [e for e in events if e.kind == "stale"]
    assert (stale.state, stale.device, stale.point) == ("open", "pt-01", "pressure")
    assert stale.started_ms == now + 3000
    assert stale.message == "pressure no good reading for 3 s"

    _readings(stack, site, "pt-01", "pressure", [1.25], int(time.time() * 1000))
    events = _alerts(stack, site, lambda evs: any(e.state == "resolved" for e in evs))
    assert [(e.id, e.state) for e in events] == [(stale.id, "open"), (stale.id, "resolved")]


def test_a_gateway_offline_rule_follows_the_bridges_gateway_events(
    stack: Settings, rules_worker: Component
) -> None:
    site = _site()
    _publish(stack, _rule("gw-down-" + site, 1, site, {"type": "gateway_offline", "after": "2s"}))
    rules_worker.wait_for_log(f"rule gw-down-{site} version 1 active", 15)
    off_ms = int(time.time() * 1000)
    offline = GatewayEvent.make("offline", site, "gw-01", off_ms, "test", detail="last will",
                                identity=str(off_ms))
    asyncio.run(_send(KAFKA_GATEWAY_EVENTS, offline.key, offline.encode(), stack))
    events = _alerts(stack, site, lambda evs: any(e.kind == "gateway" for e in evs))
    [opened] = events
    assert (opened.state, opened.gateway, opened.started_ms) == ("open", "gw-01", off_ms)
    assert opened.updated_ms - off_ms >= 2000, "not before the rule's delay"

    online = GatewayEvent.make("online", site, "gw-01", off_ms + 9000, "test", identity=str(off_ms + 9000))
    asyncio.run(_send(KAFKA_GATEWAY_EVENTS, online.key, online.encode(), stack))
    events = _alerts(stack, site, lambda evs: any(e.state == "resolved" for e in evs))
    assert [(e.id, e.state) for e in events] == [(opened.id, "open"), (opened.id, "resolved")]
    assert events[1].message == f"gateway {site}/gw-01 back online"


def _recorded_series(t0: int) -> list[Reading]:
    """Six and a half minutes of a gas reading at 1 Hz: noise, a spike, then a slow climb past the
    limit and back: enough for anomaly, rate, predicted and limit alerts to open and resolve."""
    rng = random.Random(7)
    values = [10 + rng.gauss(0, 0.2) for _ in range(400)]
    values[200] = 40.0
    for i in range(300, 381):
        values[i] = 10 + (i - 300) * 0.25 + rng.gauss(0, 0.1)
    return [Reading("ch4", t0 + i * 1000, round(v, 3), "good") for i, v in enumerate(values)]


def test_a_backlog_replayed_late_equals_the_same_readings_live(
    stack: Settings, rules_worker: Component
) -> None:
    site = _site()
    for rule_id, condition in [
        ("lel-" + site, {"type": "limit", "high": 25, "hysteresis": 1, "delay": "3s", "predict": "2m"}),
        ("climb-" + site, {"type": "rate", "max_rise_per_min": 30, "window": "30s"}),
    ]:
        _publish(stack, _rule(rule_id, 1, site, condition))
        rules_worker.wait_for_log(f"rule {rule_id} version 1 active", 15)
    t0 = int(time.time() * 1000) - 2 * 3600_000  # two hours old: a backlog after an outage
    series = _recorded_series(t0)
    live = [DeviceRecord(site, "gw-01", "live-01", i, [r]) for i, r in enumerate(series)]
    asyncio.run(produce_records(stack, live, rate_per_s=400))
    # The same readings arriving late, all at once, as the edge's replay sends them.
    asyncio.run(produce_records(stack, [DeviceRecord(site, "gw-01", "late-01", 0, series)], rate_per_s=1))
    _stored(stack, site, 2 * len(series))

    def scores(device: str) -> list[list[object]]:
        rows = influxql(stack, f"SELECT score, value FROM reading WHERE site = '{site}' "
                               f"AND device = '{device}'")
        return rows[0]["values"]

    live_scores, late_scores = scores("live-01"), scores("late-01")
    assert len(live_scores) == len(series)
    assert [(t, v) for t, _, v in late_scores] == [(t, v) for t, _, v in live_scores]
    assert [s for _, s, _ in late_scores] == pytest.approx([s for _, s, _ in live_scores], abs=1e-9)

    time.sleep(2.0)  # alert events are on their way to Kafka when the lines are stored
    events = _alerts(stack, site, lambda evs: False, timeout_s=5)

    def incidents(device: str) -> list[tuple[object, ...]]:
        return [(e.kind, e.rule, e.state, e.severity, e.started_ms, e.updated_ms, e.value, e.message)
                for e in events if e.device == device]

    assert incidents("late-01") == incidents("live-01")
    kinds = {(kind, state) for kind, _, state, *_ in incidents("live-01")}
    assert {("anomaly", "open"), ("rate", "open"), ("predicted", "open"), ("limit", "open"),
            ("limit", "resolved")} <= kinds, kinds
    predicted = next(i for i in incidents("live-01") if i[0] == "predicted")
    limit = next(i for i in incidents("live-01") if i[0] == "limit")
    assert predicted[4] < limit[4], "the prediction came before the limit was crossed"
