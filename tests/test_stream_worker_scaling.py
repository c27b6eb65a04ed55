"""Two workers share the ``readings`` partitions; together they judge every reading exactly once.

Both run as subprocesses in one consumer group. Once the group is stable (each
logged a non-empty assignment, disjoint, covering every partition), records
of many devices are sent; afterwards each worker's own counters show it
processed some of them, the counters add up to exactly the readings sent (none
judged twice), and InfluxDB holds every reading with its score (none judged
not at all).
"""

from __future__ import annotations

import ast
import asyncio
import re
import time
import uuid
from pathlib import Path

import pytest

from parkwatch.settings import Settings
from stream_processor.testing import Component, produce_records

from .test_stream_worker_durability import WORKER_CONFIG, _count, _records, _wait

pytestmark = pytest.mark.services

_ASSIGNED = re.compile(r"assigned readings partitions \[([\d, ]*)\]")
_STATS = re.compile(r"processor stats (\{.*?\}) sink")


def _assignment(worker: Component) -> set[int] | None:
    found = _ASSIGNED.findall(worker.log_text())
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else None


def _readings(worker: Component) -> int:
    found = _STATS.findall(worker.log_text())
    return int(ast.literal_eval(found[-1])["readings"]) if found else 0


def test_two_workers_split_the_partitions_and_judge_each_reading_once(
    stack: Settings, tmp_path: Path
) -> None:
    config = tmp_path / "processor.yaml"
    config.write_text(WORKER_CONFIG)
    args = ["processor", "worker", "--config", str(config)]
    workers = [Component(args, tmp_path / f"worker-{i}.log") for i in (1, 2)]
    try:
        def split() -> bool:
            parts = [_assignment(w) for w in workers]
            if not all(parts):
                return False
            a, b = parts
            return bool(a and b and not a & b and a | b == set(range(stack.readings_partitions)))

        _wait("a stable split of the partitions", split, 90, workers)
        time.sleep(2)  # any backlog of earlier tests is done; counters settle
        _wait("settled counters", lambda: _settled(workers), 30, workers)
        before = [_readings(w) for w in workers]
        site = f"scale-{uuid.uuid4().hex[:6]}"
        records = _records(site)
        total = sum(len(r.readings) for r in records)
        asyncio.run(produce_records(stack, records, 400))
        _wait(f"{total} readings", lambda: _count(stack, "quality", site) >= total, 90, workers)
        assert _count(stack, "quality", site) == total
        assert _count(stack, "score", site) == total, "every reading judged"
        assert split(), "no rebalance happened under load"
        _wait("counters of the run", lambda: sum(_readings(w) for w in workers) - sum(before) >= total,
              10, workers)
        processed = [_readings(w) - b for w, b in zip(workers, before, strict=True)]
        assert all(n > 0 for n in processed), processed
        assert sum(processed) == total, f"{processed}: a reading judged twice"
        print(f"\npartitions {[sorted(_assignment(w) or ()) for w in workers]}, readings {processed}")
        for w in workers:
            assert w.stop() == 0, w.log_text()[-3000:]
    finally:
        for w in workers:
            w.stop()


def _settled(workers: list[Component]) -> bool:
    now = [_readings(w) for w in workers]
    time.sleep(1.2)
    return now == [_readings(w) for w in workers]
