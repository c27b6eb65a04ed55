"""Measure how many readings/s one worker (scoring + InfluxDB sink) processes.

    python -m stream_processor.measure_throughput [--records 1500] [--points 20] [--steps 10]

Starts a private stack on free ports (or uses the ``PARKWATCH_*`` endpoints
with ``--use-env``), pre-loads ``readings`` with a backlog of device records of
``points × steps`` readings each, starts ``parkwatch processor worker`` and
times from the worker being ready until InfluxDB holds every reading
(``count(quality)``). The figure includes Kafka consumption, decoding,
scoring, table updates, line encoding and the InfluxDB writes, all on this
machine's shared cores. The lead's ``bench/`` owns the real benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from parkwatch.influxql import scalar
from parkwatch.settings import Settings, load_settings
from parkwatch.testing import isolated_stack
from parkwatch.wire.frames import Reading
from parkwatch.wire.records import DeviceRecord
from parkwatch.wire.topics import KAFKA_READINGS
from stream_processor.kafka_topics import ensure_topics
from stream_processor.testing import Component

__all__ = ["main"]

T0 = 1764189600000


async def _preload(settings: Settings, site: str, records: int, points: int, steps: int, devices: int) -> int:
    await ensure_topics(settings)
    rng = random.Random(1)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5,
                                max_batch_size=1_048_576, acks="all")
    await producer.start()
    total = 0
    try:
        futures = []
        for i in range(records):
            device, step = i % devices, i // devices
            readings = [
                Reading(f"p{p:03d}", T0 + (step * steps + s) * 1000, round(50 + rng.gauss(0, 2), 3), "good")
                for s in range(steps)
                for p in range(points)
            ]
            record = DeviceRecord(site, "gw-01", f"dev-{device:04d}", step, readings)
            futures.append(await producer.send(KAFKA_READINGS, record.encode(), key=record.key.encode()))
            total += len(readings)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return total


def measure(settings: Settings, workdir: Path, records: int, points: int, steps: int, devices: int) -> None:
    site = f"tput-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    total = asyncio.run(_preload(settings, site, records, points, steps, devices))
    print(f"preloaded {records} records x {points * steps} readings = {total} readings "
          f"in {time.monotonic() - started:.1f}s")
    worker = Component(["processor", "worker", "--loglevel", "warning"], workdir / "worker.log")
    try:
        deadline = time.monotonic() + 600
        query = f"SELECT count(quality) FROM reading WHERE site = '{site}'"
        first_seen: float | None = None
        count = 0.0
        while time.monotonic() < deadline and count < total:
            time.sleep(0.5)
            try:
                count = scalar(settings, query)
            except Exception:  # noqa: BLE001 - database not created yet
                continue
            if count and first_seen is None:
                first_seen = time.monotonic()
                first_count = count
        done = time.monotonic()
        if count < total or first_seen is None:
            raise SystemExit(f"only {count:.0f} of {total} readings stored:\n{worker.log_text()[-3000:]}")
        rate = (total - first_count) / max(done - first_seen, 1e-9)
        print(f"worker stored {total} readings; steady rate {rate:,.0f} readings/s "
              f"({rate / (points * steps):,.0f} records/s) over {done - first_seen:.1f}s")
    finally:
        code = worker.stop()
        print(f"worker exit code {code}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1500)
    parser.add_argument("--points", type=int, default=20, help="points per device record")
    parser.add_argument("--steps", type=int, default=10, help="readings per point per record")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--use-env", action="store_true",
                        help="use the PARKWATCH_* stack instead of a private one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parkwatch-tput-") as tmp:
        if args.use_env:
            measure(load_settings(), Path(tmp), args.records, args.points, args.steps, args.devices)
        else:
            with isolated_stack(Path(tmp) / "stack") as settings:
                measure(settings, Path(tmp), args.records, args.points, args.steps, args.devices)


if __name__ == "__main__":
    main()
