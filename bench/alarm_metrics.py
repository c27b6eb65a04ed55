"""Alarm management figures: what one computation costs, and what many walls polling them cost.

``python -m bench.alarm_metrics`` fills a SQLite alert store (a temporary file)
with ``--alerts`` alerts over the last day across ``--sites`` sites, half of
them resolved a minute after they opened, and measures, in this process:

* ``apply_per_s``: alert events the store applies per second while it is filled
  (batches of 2,000, as the API's Kafka consumer hands them over);
* ``compute_ms`` / ``one_site_ms``: :func:`cloud_api.alarm_metrics.alarm_metrics`
  for all sites and for one (median of 5);
* ``walls_s``: ``--walls`` requests of ``GET /api/v1/alarm-metrics`` at once,
  as walls that poll the default range (shared by the API for a few seconds),
  through the app in-process (ASGI); median of 3 rounds, each after the shared
  figures have expired;
* ``own_ranges_s``: the same number of requests each with a range of its own
  (``since_ms`` given), which the API computes one at a time.

No broker is needed: the app's Kafka consumer only retries in the background.
The last line is::

    alerts=<N> apply_per_s=<N> compute_ms=<N> one_site_ms=<N> walls=<N> walls_s=<N> own_ranges_s=<N>
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx

from cloud_api.alarm_metrics import alarm_metrics
from cloud_api.alarm_metrics_api import SHARED_S
from cloud_api.app import create_app
from cloud_api.config import ApiSettings
from cloud_api.sql_store import SqlAlertStore
from parkwatch.settings import Settings
from parkwatch.wire.alerts import AlertEvent, alert_id

_DAY_MS = 86_400_000


def _alerts(count: int, sites: int, now_ms: int) -> list[AlertEvent]:
    step = _DAY_MS // count
    opened = [
        AlertEvent(
            alert_id(f"site-{i % sites}", "gw", f"gas-{i % 400:03d}", "ch4", "anomaly_score", t), "open",
            "anomaly", "anomaly_score", "warning", f"site-{i % sites}", "gw", f"gas-{i % 400:03d}", "ch4", t,
            t, 80.0, 0.99, 10.0, 15.0, "ch4 = 80.0, expected 10..15",
        )  # fmt: skip
        for i in range(count)
        for t in (now_ms - _DAY_MS + i * step,)
    ]
    return opened + [replace(e, state="resolved", updated_ms=e.updated_ms + 60_000) for e in opened[::2]]


def _median_ms(call: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


async def _rounds(client: httpx.AsyncClient, walls: int, own_range: bool, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        await asyncio.sleep(SHARED_S)  # what an earlier round computed no longer serves
        since = time.time_ns() // 1_000_000 - _DAY_MS
        began = time.perf_counter()
        answers = await asyncio.gather(
            *(
                client.get("/api/v1/alarm-metrics", params={"since_ms": since + i} if own_range else {})
                for i in range(walls)
            )
        )
        times.append(time.perf_counter() - began)
        failed = [a for a in answers if a.status_code != 200]
        if failed:
            raise SystemExit(f"{len(failed)} of {walls} requests failed: {failed[0].text}")
    return statistics.median(times)


async def main(args: argparse.Namespace) -> None:
    now = time.time_ns() // 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings().model_copy(
            update={"api_db_url": f"sqlite:///{Path(tmp) / 'api.sqlite'}", "kafka_bootstrap": "127.0.0.1:9"}
        )
        app = create_app(settings, ApiSettings(auth="off", consumer_group="bench"))
        store: SqlAlertStore = app.state.services.store
        store.open()
        events = _alerts(args.alerts, args.sites, now)
        began = time.perf_counter()
        for i in range(0, len(events), 2000):
            store.apply(events[i : i + 2000], {})
        apply_per_s = len(events) / (time.perf_counter() - began)
        compute_ms = _median_ms(lambda: alarm_metrics(store.db, None, now - _DAY_MS, now, now))
        one_site_ms = _median_ms(lambda: alarm_metrics(store.db, ("site-1",), now - _DAY_MS, now, now))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            walls_s = await _rounds(client, args.walls, own_range=False)
            own_s = await _rounds(client, args.walls, own_range=True)
        store.close()
    print(
        f"alerts={args.alerts} apply_per_s={apply_per_s:.0f} compute_ms={compute_ms:.0f} "
        f"one_site_ms={one_site_ms:.0f} walls={args.walls} walls_s={walls_s:.2f} own_ranges_s={own_s:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=20_000, help="alerts opened in the last day")
    parser.add_argument("--sites", type=int, default=5)
    parser.add_argument("--walls", type=int, default=50, help="requests at once")
    asyncio.run(main(parser.parse_args()))
