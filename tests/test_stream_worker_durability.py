"""Worker durability against real Tansu and InfluxDB: kill -9 under load, InfluxDB outage.

Records go straight to Kafka ``readings`` (the bridge has its own tests) at a
steady pace while ``parkwatch processor worker`` runs as a subprocess. Every
device sends one reading per point per second of event time; a few points get
one clear spike late in the run.

* kill -9 mid-load, restart: every reading is stored exactly once
  (``count(quality)``), every reading carries its score (none was skipped as
  "already judged" while its line was lost), each spike opens exactly one
  alert id, and any event re-emitted by the replay is identical to the first.
  The spike comes fewer readings after the restart than the detector's
  warm-up (30), so it only scores high if the model resumed from the
  changelog instead of starting over.
* InfluxDB (a private ``influxd``) stopped under load, the worker killed
  while it is down and restarted, InfluxDB back: nothing lost. With Faust's
  timer commits this lost every line buffered during the outage.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from parkwatch.errors import FrameError
from parkwatch.influxql import scalar
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent, alert_id
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from stream_processor.testing import Component, PrivateInfluxDB, consume, produce_records

pytestmark = pytest.mark.services

T0 = 1764189600000
DEVICES = 40
POINTS = ("p0", "p1", "p2", "p3", "p4")
STEPS = 60
SPIKE_STEP = 45
SPIKED = ("dev-00", "dev-01", "dev-02")
RATE = 200  # records/s: 1,000 readings/s for 12 s

#: Short group timeouts so a killed member is replaced in seconds.
WORKER_CONFIG = """\
sink:
  retry_backoff_max: 1s
kafka:
  session_timeout: 6s
  rebalance_timeout: 6s
stats_interval: 1s
"""


def _records(site: str) -> list[DeviceRecord]:
    rng = random.Random(7)
    out = []
    for step in range(STEPS):
        ts = T0 + step * 1000
        for d in range(DEVICES):
            dev = f"dev-{d:02d}"
            readings = [Reading(p, ts, round(rng.gauss(12.5, 0.5), 3), "good") for p in POINTS]
            if step == SPIKE_STEP and dev in SPIKED:
                readings[0] = Reading("p0", ts, 90.0, "good")
            out.append(DeviceRecord(site, "gw-01", dev, step, readings))
    return out


class Load:
    """Produces the records in a thread; ``sent`` is how many records Kafka has so far."""

    def __init__(self, settings: Settings, records: list[DeviceRecord]) -> None:
        self.sent = 0
        self.error: BaseException | None = None

        def run() -> None:
            try:
                asyncio.run(produce_records(settings, records, RATE, progress=self._progress))
            except BaseException as exc:  # noqa: BLE001 - re-raised by join()
                self.error = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def _progress(self, n: int) -> None:
        self.sent = n

    def wait_sent(self, n: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.sent < n and self.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.error is None and self.sent >= n, self.error

    def join(self) -> None:
        self._thread.join(120)
        assert self.error is None, self.error


def _count(settings: Settings, field: str, site: str) -> float:
    try:
        return scalar(settings, f"SELECT count({field}) FROM reading WHERE site = '{site}'")
    except Exception:  # noqa: BLE001 - database not created yet / InfluxDB down
        return -1.0


def _wait(what: str, check: Callable[[], Any], timeout_s: float, workers: list[Component]) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {w.log_path.name}\n{w.log_text()[-3000:]}" for w in workers)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.25)


def _site_events(settings: Settings, site: str, expected_resolved: int) -> list[AlertEvent]:
    def mine(data: bytes | None) -> AlertEvent | None:
        try:
            event = AlertEvent.decode(data)
        except FrameError:
            return None
        return event if event.site == site else None

    records = asyncio.run(consume(
        settings, "alerts",
        lambda recs: sum(mine(r.value).state == "resolved" for r in recs) >= expected_resolved,  # type: ignore[union-attr]
        keep=lambda rec: mine(rec.value) is not None, timeout_s=30,
    ))
    return [e for e in (mine(r.value) for r in records) if e is not None]


def _assert_one_alert_per_spike(events: list[AlertEvent], site: str) -> None:
    spike_ts = T0 + SPIKE_STEP * 1000
    expected = {dev: alert_id(site, "gw-01", dev, "p0", "anomaly_score", spike_ts) for dev in SPIKED}
    assert {e.id for e in events} == set(expected.values()), [(e.device, e.point, e.state) for e in events]
    for dev, aid in expected.items():
        mine = [e for e in events if e.id == aid]
        assert {e.state for e in mine} == {"open", "resolved"}, dev
        for state in ("open", "resolved"):
            same = {e.encode() for e in mine if e.state == state}
            assert len(same) == 1, f"{dev}: different {state} events for one incident: {same}"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "processor.yaml"
    path.write_text(WORKER_CONFIG)
    return path


def test_kill_9_under_load_stores_every_reading_once_and_duplicates_no_alert(
    stack: Settings, tmp_path: Path
) -> None:
    site = f"kill-{uuid.uuid4().hex[:6]}"
    records = _records(site)
    total = sum(len(r.readings) for r in records)
    args = ["processor", "worker", "--config", str(_config(tmp_path))]
    first = Component(args, tmp_path / "worker-1.log")
    second: Component | None = None
    try:
        first.wait_for_log("assigned readings partitions", 60)
        load = Load(stack, records)
        load.wait_sent(DEVICES * 18)
        _wait("readings being stored", lambda: _count(stack, "quality", site) > 0, 30, [first])
        first.kill()  # at about step 20 of 60; the spike is at step 45
        killed_at = load.sent // DEVICES
        second = Component(args, tmp_path / "worker-2.log")
        load.join()
        _wait(f"{total} readings", lambda: _count(stack, "quality", site) >= total, 90, [first, second])
        assert _count(stack, "quality", site) == total
        assert _count(stack, "score", site) == total, "every reading stored with its score"
        spikes = scalar(stack, f"SELECT min(score) FROM reading WHERE site = '{site}' AND point = 'p0' "
                               f"AND time = {T0 + SPIKE_STEP * 1000}ms AND device =~ /^dev-0[012]$/")
        assert spikes > 0.99, "the resumed models judge the spikes (a fresh one would be warming up)"
        _assert_one_alert_per_spike(_site_events(stack, site, len(SPIKED)), site)
        assert second.stop() == 0, second.log_text()[-3000:]
        print(f"\nkilled at step {killed_at}/{STEPS}; {total} readings stored once, scored once")
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_influx_outage_and_a_kill_during_it_lose_nothing(stack: Settings, tmp_path: Path) -> None:
    site = f"outage-{uuid.uuid4().hex[:6]}"
    records = _records(site)
    total = sum(len(r.readings) for r in records)
    influx = PrivateInfluxDB(tmp_path / "influx", stack)
    influx.start()
    args = ["processor", "worker", "--config", str(_config(tmp_path))]
    first = Component(args, tmp_path / "worker-1.log", env=influx.env)
    second: Component | None = None
    try:
        first.wait_for_log("assigned readings partitions", 60)
        load = Load(stack, records)
        _wait("readings being stored", lambda: _count(influx.settings, "quality", site) > 0, 30, [first])
        influx.stop()
        down_at = time.monotonic()
        stored_before = load.sent
        time.sleep(4)
        first.kill()  # lines buffered for the dead InfluxDB die with it; their offsets were not committed
        second = Component(args, tmp_path / "worker-2.log", env=influx.env)
        time.sleep(6)
        influx.start()
        outage_s = time.monotonic() - down_at
        load.join()
        _wait(f"{total} readings", lambda: _count(influx.settings, "quality", site) >= total, 90,
              [first, second])
        assert _count(influx.settings, "quality", site) == total
        assert _count(influx.settings, "score", site) == total
        assert "InfluxDB write of" in first.log_text(), "the first worker saw the outage"
        assert second.stop() == 0, second.log_text()[-3000:]
        print(f"\nInfluxDB down {outage_s:.1f}s from record {stored_before} on, worker killed during it: "
              f"{total} readings stored")
    finally:
        first.stop()
        if second is not None:
            second.stop()
        influx.stop()
