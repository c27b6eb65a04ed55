"""Full-pipeline throughput: many simulated gateways → Mosquitto → bridge → Tansu → Faust → InfluxDB.

``python -m bench.throughput --seconds 30`` starts a private stack on free
ports, measures each stage's ceiling alone (Mosquitto, Kafka, InfluxDB),
then offers ``--rate`` readings/s from ``--gateways`` synthetic gateways
through the real edge uplink for ``--seconds``, waits for the pipeline to
drain and prints, last::

    readings_per_s=<N> sent=<N> stored=<N> lost=<N>

where readings_per_s is stored / (first publish .. last reading stored),
sent is what the broker acknowledged and lost = sent - stored.

Everything (services, bridge, worker, gateways) shares this machine's cores,
as it would on a single-box deployment.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.stages import influx_ceiling, kafka_ceiling, mqtt_ceiling
from bench.synthetic import SyntheticGateway
from edge_agent.uplink import Uplink
from parkwatch.influxql import scalar
from parkwatch.park import Component
from parkwatch.settings import Settings
from parkwatch.testing import isolated_stack


def _stored(settings: Settings, since_ms: int) -> int:
    return int(scalar(settings, f"SELECT count(quality) FROM reading WHERE time >= {since_ms}ms"))


def _offer(
    settings: Settings, gateways: list[SyntheticGateway], rate: float, seconds: float, start_ms: int
) -> tuple[int, float]:
    """Publish frames at ``rate`` readings/s for ``seconds``; returns (readings acked, start time)."""
    uplinks = [Uplink(settings, gw.site, gw.gateway) for gw in gateways]
    for up in uplinks:
        up.start()
    per_tick = sum(gw.readings_per_tick for gw in gateways)
    tick_s = per_tick / rate
    t0 = time.monotonic()
    tick = 0
    # Event time advances with the tick, not the wall clock: unique timestamps per series
    # however far the publisher falls behind.
    while time.monotonic() - t0 < seconds:
        ts_ms = start_ms + int(tick * tick_s * 1000)
        for gw, up in zip(gateways, uplinks, strict=True):
            up.publish(gw.frame(ts_ms))
        tick += 1
        sleep = t0 + tick * tick_s - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
    for up in uplinks:
        up.flush(timeout_s=60)
    acked = sum(up.readings_acked for up in uplinks)
    for up in uplinks:
        up.stop()
    return acked, t0


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    with isolated_stack(workdir / "stack") as settings:
        stage_s = args.stage_seconds
        print(f"mqtt_ceiling_readings_per_s={mqtt_ceiling(settings, stage_s):.0f}", flush=True)
        print(f"kafka_ceiling_readings_per_s={kafka_ceiling(settings, stage_s):.0f}", flush=True)
        print(f"influx_ceiling_readings_per_s={influx_ceiling(settings, stage_s):.0f}", flush=True)

        comps = [
            Component(f"worker-{i}", ["processor", "worker"], workdir / f"worker-{i}.log")
            for i in range(args.workers)
        ]
        comps += [
            Component(f"bridge-{i}", ["bridge"], workdir / f"bridge-{i}.log") for i in range(args.bridges)
        ]
        env = dict(os.environ)
        for comp in comps:
            comp.start(env)
        try:
            time.sleep(args.warmup)
            gateways = [
                SyntheticGateway("bench", f"gw-{g:03d}", args.devices, args.points, seed=g)
                for g in range(args.gateways)
            ]
            start_ms = int(time.time() * 1000)
            sent, t0 = _offer(settings, gateways, args.rate, args.seconds, start_ms)
            print(f"offered_for_s={time.monotonic() - t0:.1f} sent={sent}", flush=True)
            stored, last_change = 0, time.monotonic()
            while stored < sent and time.monotonic() - last_change < args.drain_timeout:
                time.sleep(1.0)
                now_stored = _stored(settings, start_ms)
                if now_stored != stored:
                    stored, last_change = now_stored, time.monotonic()
                for comp in comps:
                    if not comp.alive:
                        raise SystemExit(f"{comp.name} died:\n{comp.log_tail()}")
            elapsed = last_change - t0
        finally:
            for comp in comps:
                comp.stop()
    print(f"readings_per_s={stored / elapsed:.0f} sent={sent} stored={stored} lost={sent - stored}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the gateways publish")
    parser.add_argument(
        "--rate", type=float, default=100_000.0, help="offered readings/s, all gateways together"
    )
    parser.add_argument("--gateways", type=int, default=20)
    parser.add_argument("--devices", type=int, default=25, help="devices per gateway")
    parser.add_argument("--points", type=int, default=20, help="points per device")
    parser.add_argument("--workers", type=int, default=1, help="Faust workers")
    parser.add_argument("--bridges", type=int, default=1, help="MQTT→Kafka bridges")
    parser.add_argument("--stage-seconds", type=float, default=5.0, help="seconds per stage ceiling")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds for the worker to join its group")
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0, help="give up after this long with no progress"
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
