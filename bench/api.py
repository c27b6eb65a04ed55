"""Cloud API latency: alert listing, point history and the live stream's fan-out.

``python -m bench.api`` starts a private stack on free ports, seeds the API's
database with ``--alerts`` alerts over ``--sites`` sites and InfluxDB with an
hour of 1 Hz readings for a few points, starts ``parkwatch api`` (tokens on,
as in production) and measures, from this process:

* ``alerts_list_p99_ms``: ``GET /api/v1/alerts`` (pages of 100, some filtered
  by site or state), ``--concurrency`` requests in flight;
* ``history_p99_ms``: ``GET .../history`` over the last hour (360 buckets of
  10 s from 3,600 readings), same concurrency. With ``--history-ranges
  distinct`` (the default) each range ends at the wall clock when its request
  is sent, as screens that each take their own ``now`` do; ``same`` asks for
  one of two identical URLs throughout. The API keeps settled buckets
  (``cloud_api.history_cache``); ``--history-cache-s 0`` turns that off, so
  every request costs an InfluxDB query of the whole hour (a point nobody
  has looked at in the last minute);
* ``ws_fanout_p99_ms``: with ``--ws-clients`` stream clients connected, an
  alert change is made ``--fanout-events`` times and each client's receipt
  is timed from the moment the change was requested; p99 over every
  (change, client) pair. The change is an acknowledgement through the REST
  API (published to Kafka and applied to the store, as an operator's), so the
  time is the API's own path and not the Kafka consumer's fetch wait.
  ``ws_e2e_p99_ms`` is the same for new alerts produced to Kafka, which adds
  the consumer's fetch interval.

The last line is::

    alerts_list_p99_ms=<N> history_p99_ms=<N> ws_clients=<N> ws_fanout_p99_ms=<N>

Everything shares this machine's cores (clients, API, Kafka, InfluxDB). Requests
are made with aiohttp: httpx's pool adds tail latency of its own under
concurrent requests (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import httpx
import websockets
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cloud_api.accounts import AccountStore
from cloud_api.db import Database
from cloud_api.sql_store import SqlAlertStore
from parkwatch.influxql import ensure_database
from parkwatch.settings import Settings
from parkwatch.testing import isolated_stack
from parkwatch.wire.alerts import AlertEvent, alert_id
from parkwatch.wire.topics import KAFKA_ALERTS

__all__ = ["main", "p99"]

#: Points that get an hour of history (they exist in ``firmware_configs``).
HISTORY_POINTS = [("north", "north-gw1", "gas-01", "ch4"), ("south", "south-gw1", "gas-02", "ch4")]


def p99(samples: list[float]) -> float:
    """The 99th percentile (nearest rank).

    >>> p99([float(i) for i in range(1, 101)])
    99.0
    """
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.99 * len(ordered))) - 1)]


def _event(site: str, n: int, now_ms: int) -> AlertEvent:
    started = now_ms - n * 1000
    device = f"gas-{n % 50:02d}"
    return AlertEvent(
        alert_id(site, "gw-01", device, "ch4", "anomaly_score", started),
        ("open", "acknowledged", "resolved")[n % 3],
        "anomaly",
        "anomaly_score",
        ("info", "warning", "critical")[n % 3],
        site,
        "gw-01",
        device,
        "ch4",
        started,
        started,
        80.0 + n % 10,
        0.99,
        10.0,
        15.0,
        "ch4 high",
    )


def _seed(db_url: str, sites: int, alerts: int) -> str:
    """Alerts and an admin; returns the admin's token."""
    db = Database(db_url)
    store = SqlAlertStore(db)
    store.open()
    now = int(time.time() * 1000)
    names = ["north", "south"] + [f"site-{i:02d}" for i in range(max(0, sites - 2))]
    batch = [_event(names[n % len(names)], n, now) for n in range(alerts)]
    for i in range(0, len(batch), 2000):
        store.apply(batch[i : i + 2000], {})
    accounts = AccountStore(db)
    accounts.add_user("bench", "admin", [], now)
    token = accounts.create_token("bench", now, None).text
    store.close()
    return token


def _seed_history(settings: Settings) -> None:
    ensure_database(settings)
    now = int(time.time() * 1000)
    lines = [
        f'reading,site={s},gateway={g},device={d},point={p} value={12 + (t % 60) / 10},quality="good" '
        f"{now - 3_600_000 + t * 1000}"
        for s, g, d, p in HISTORY_POINTS
        for t in range(3600)
    ]
    params = {"db": settings.influx_db, "precision": "ms"}
    httpx.post(
        f"{settings.influx_url}/write", params=params, content="\n".join(lines), timeout=30
    ).raise_for_status()


async def _ensure_topic(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if KAFKA_ALERTS not in await admin.list_topics():
            await admin.create_topics([NewTopic(KAFKA_ALERTS, 1, replication_factor=1)])
    finally:
        await admin.close()


async def _latencies(
    client: aiohttp.ClientSession, paths: list[str] | Callable[[int], str], concurrency: int, count: int = 0
) -> list[float]:
    """Latencies of ``paths`` (or of ``count`` paths made by ``paths(i)`` when sent)."""
    queue = list(reversed(range(len(paths) if isinstance(paths, list) else count)))
    out: list[float] = []

    async def worker() -> None:
        while queue:
            i = queue.pop()
            path = paths[i] if isinstance(paths, list) else paths(i)
            t0 = time.perf_counter()
            async with client.get(path) as resp:
                await resp.read()
            out.append((time.perf_counter() - t0) * 1000)
            resp.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def _measure(
    settings: Settings, base: str, token: str, args: argparse.Namespace
) -> tuple[list[float], list[float], int, list[float], list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    # aiohttp, not httpx: httpx's connection pool adds tail latency of its own under concurrent
    # requests (encode/httpx#3215): against the same server in the same run, history p99 was
    # 106.8 ms through httpx and 12.8-24.5 ms through aiohttp, with equal medians.
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector, timeout=timeout) as client:
        # The stream clients connect first, so list and history are measured with all of them
        # connected (the goal's setting); then changes are made and each client's receipt timed.
        ws_url = base.replace("http://", "ws://") + f"/api/v1/stream?token={token}"
        clients = []
        for _ in range(args.ws_clients):
            ws = await websockets.connect(ws_url, max_queue=None)
            json.loads(await ws.recv())  # hello
            clients.append(ws)
        expected: dict[str, float] = {}
        fanout: list[float] = []
        e2e: list[float] = []
        received = 0
        target = 0

        async def listen(ws: websockets.ClientConnection) -> None:
            nonlocal received
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] != "alert":
                    continue
                key = f"{message['alert']['id']}:{message['alert']['state']}"
                if key in expected:
                    latency = (time.perf_counter() - expected[key]) * 1000
                    (fanout if message["alert"]["state"] == "acknowledged" else e2e).append(latency)
                    received += 1

        listeners = [asyncio.create_task(listen(ws)) for ws in clients]

        variants = ["/api/v1/alerts?limit=100", "/api/v1/alerts?site=north&limit=100",
                    "/api/v1/alerts?state=open&state=acknowledged&limit=100"]  # fmt: skip
        await _latencies(client, variants * 5, args.concurrency)  # warm-up
        listing = await _latencies(client, [variants[i % 3] for i in range(args.requests)], args.concurrency)
        now = int(time.time() * 1000)

        def history_path(i: int, to_ms: int) -> str:
            s, g, d, p = HISTORY_POINTS[i % len(HISTORY_POINTS)]
            return f"/api/v1/points/{s}/{g}/{d}/{p}/history?from_ms={to_ms - 3_600_000}&to_ms={to_ms}"

        await _latencies(client, [history_path(i, now) for i in range(10)], args.concurrency)

        def own_now(i: int) -> str:
            return history_path(i, time.time_ns() // 1_000_000)

        if args.history_ranges == "distinct":
            history = await _latencies(client, own_now, args.concurrency, args.requests)
        else:
            same = [history_path(i, now) for i in range(args.requests)]
            history = await _latencies(client, same, args.concurrency)

        async def settle(timeout_s: float = 10.0) -> None:
            deadline = time.monotonic() + timeout_s
            while received < target and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            fresh = [_event("north", 10_000_000 + i, now) for i in range(args.fanout_events)]
            for event in fresh:  # new alerts through Kafka: end to end
                event.state = "open"
                expected[f"{event.id}:open"] = time.perf_counter()
                target += len(clients)
                await producer.send_and_wait(KAFKA_ALERTS, event.encode(), key=event.id.encode())
                await settle()
            for event in fresh:  # an operator's acknowledgement: the API's own path
                expected[f"{event.id}:acknowledged"] = time.perf_counter()
                target += len(clients)
                async with client.post(f"/api/v1/alerts/{event.id}/acknowledge", json={}) as resp:
                    resp.raise_for_status()
                await settle()
        finally:
            await producer.stop()
            for task in listeners:
                task.cancel()
            await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
        return listing, history, len(clients), fanout, e2e


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    with isolated_stack(workdir / "stack") as settings:
        asyncio.run(_ensure_topic(settings))
        _seed_history(settings)
        db_url = f"sqlite:///{workdir / 'api.sqlite'}"
        token = _seed(db_url, args.sites, args.alerts)
        port = settings.api_port
        env = {
            **os.environ,
            "PARKWATCH_API_DB_URL": db_url,
            "PARKWATCH_API_AUTH": "tokens",
            "PARKWATCH_API_RATE_PER_S": "100000",
            "PARKWATCH_API_RATE_BURST": "100000",
            "PARKWATCH_API_HISTORY_CACHE_S": str(args.history_cache_s),
        }
        log = workdir / "api.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "parkwatch", "api", "--log-level", "warning"],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the API did not come up:\n{log.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).json()["consumer"]["connected"]:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
            listing, history, clients, fanout, e2e = asyncio.run(_measure(settings, base, token, args))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    expected = args.fanout_events * clients
    e2e_p99 = p99(e2e) if e2e else float("nan")
    print(
        f"alerts={args.alerts} requests={args.requests} concurrency={args.concurrency} "
        f"alerts_list_median_ms={statistics.median(listing):.1f} "
        f"history_median_ms={statistics.median(history):.1f} "
        f"ws_received={len(fanout)}/{expected} ws_e2e_received={len(e2e)}/{expected} "
        f"ws_e2e_p99_ms={e2e_p99:.1f}",
        flush=True,
    )
    if len(fanout) < expected:
        print(f"warning: {expected - len(fanout)} acknowledgements never reached their client", flush=True)
    print(
        f"alerts_list_p99_ms={p99(listing):.1f} history_p99_ms={p99(history):.1f} "
        f"ws_clients={clients} ws_fanout_p99_ms={p99(fanout) if fanout else float('nan'):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=20_000, help="alerts seeded in the database")
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--requests", type=int, default=400, help="requests per measured endpoint")
    parser.add_argument("--concurrency", type=int, default=10, help="requests in flight")
    parser.add_argument("--ws-clients", type=int, default=200)
    parser.add_argument("--fanout-events", type=int, default=20)
    parser.add_argument(
        "--history-ranges",
        choices=["distinct", "same"],
        default="distinct",
        help="distinct: every range ends at the wall clock when it is sent; same: two URLs throughout",
    )
    parser.add_argument(
        "--history-cache-s",
        type=float,
        default=60.0,
        help="the API's PARKWATCH_API_HISTORY_CACHE_S; 0: every history read queries InfluxDB",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
