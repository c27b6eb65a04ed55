"""Alert latency: from a sensor value changing at the simulator to the alert listed by the cloud API.

``python -m bench.latency`` starts a private stack on free ports (Mosquitto,
Tansu, InfluxDB), the API (``PARKWATCH_API_AUTH=off``), ``--workers`` Faust
workers and one bridge as subprocesses, the field simulator in-process (its Modbus
servers on free ports) and one edge agent polling it, then offers background
load of ``--rate`` readings/s from synthetic gateways through the real edge
uplink. Once the detectors are past their warm-up it injects ``--spikes``
spikes, one at a time, on the simulated points in turn, and for each one
polls ``GET /api/v1/alerts`` every ``--poll`` until an alert of that point
that changed at or after the spike is listed: a new alert, or the point's
earlier alert reopened (a point firing again within ``reopen_within`` of its
resolution reopens its alert). Points with an open alert are skipped: the
open incident would absorb the spike. Latency = when the API first listed
it minus the ground truth ``start_ms`` (the simulator tick that changed the
value). A spike with no alert within ``--timeout`` is missed. Last line::

    p50_ms=<N> p99_ms=<N> load_readings_per_s=<N> missed=<N>

where load_readings_per_s is what the background gateways actually had
acknowledged by the broker during the measurement.

The gateway is the demo's ``north-gw1`` with its poll and frame intervals
set by ``--poll-interval`` (default 100ms; the demo's 1 s alone would make
the worst case about 2 s before the cloud even sees the value). Everything
shares this machine's cores.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.synthetic import SyntheticGateway
from edge_agent.config import load_gateway
from edge_agent.uplink import Uplink
from field_sim.anomalies import Anomaly
from field_sim.simulator import FieldSimulator
from field_sim.threaded import SimulatorThread
from parkwatch.park import Component
from parkwatch.settings import Settings
from parkwatch.testing import free_port, isolated_stack

__all__ = ["main"]

_REPO = Path(__file__).resolve().parents[1]
_DEMO = _REPO / "firmware_configs" / "gateways" / "demo-north-gw1.yaml"


def _gateway_config(workdir: Path, poll_interval: str) -> Path:
    """The demo gateway with free ports, faster polling and framing, and its own state dir."""
    config: dict[str, Any] = yaml.safe_load(_DEMO.read_text())
    ports: dict[int, int] = {}
    for device in config["devices"]:
        device["port"] = ports.setdefault(device["port"], free_port())
        device["poll_interval"] = poll_interval
        device["timeout"] = "500ms"
    config["uplink"]["frame_interval"] = poll_interval
    config["profiles_dir"] = str(_DEMO.parent.parent / "profiles")
    config["state_dir"] = str(workdir / "edge-state")
    path = workdir / "latency-gw.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class BackgroundLoad:
    """Synthetic gateways publishing ``rate`` readings/s through :class:`Uplink` on a thread."""

    def __init__(self, settings: Settings, rate: float, gateways: int, devices: int, points: int) -> None:
        self.gateways = [SyntheticGateway("loadsite", f"load-{g:02d}", devices, points, seed=g)
                         for g in range(gateways)]
        self.uplinks = [Uplink(settings, gw.site, gw.gateway) for gw in self.gateways]
        self.rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="background-load", daemon=True)

    def acked(self) -> int:
        return sum(up.readings_acked for up in self.uplinks)

    def start(self) -> None:
        for up in self.uplinks:
            up.start()
        self._thread.start()

    def _run(self) -> None:
        per_tick = sum(gw.readings_per_tick for gw in self.gateways)
        tick_s = per_tick / self.rate
        t0 = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            ts_ms = int(time.time() * 1000)
            for gw, up in zip(self.gateways, self.uplinks, strict=True):
                up.publish(gw.frame(ts_ms))
            tick += 1
            sleep = t0 + tick * tick_s - time.monotonic()
            if sleep > 0:
                time.sleep(sleep)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        for up in self.uplinks:
            up.stop()


def _alert_listed(api: httpx.Client, device: str, point: str, since_ms: int | None = None,
                  state: str | None = None) -> bool:
    """Whether the API lists an alert of ``device``/``point`` (in ``state``) that changed at or
    after ``since_ms`` in event time: a new alert, or one reopened by a point firing again soon
    after it resolved (same id and start, see ``reopen_within``)."""
    params: dict[str, str | int] = {"site": "north", "device": device, "limit": 100}
    if state is not None:
        params["state"] = state
    resp = api.get("/api/v1/alerts", params=params)
    resp.raise_for_status()
    return any(item["point"] == point and (since_ms is None or item["updated_ms"] >= since_ms)
               for item in resp.json()["items"])


def _next_target(api: httpx.Client, targets: list[tuple[str, str]], i: int) -> tuple[int, str, str]:
    """The next point in turn without an open alert: an incident in progress would absorb the
    spike (one alert per incident), which measures the detector's false alarms, not latency."""
    for step in range(len(targets)):
        device, point = targets[(i + step) % len(targets)]
        if not _alert_listed(api, device, point, state="open"):
            return i + step + 1, device, point
    raise SystemExit("every simulated point has an open alert")


def _truth_start(sim: FieldSimulator, device: str, point: str, after: int, timeout_s: float) -> int:
    """Ground truth ``start_ms`` of the spike just injected on ``device``/``point``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in reversed(sim.truth):
            if entry["device"] == device and entry["point"] == point and int(str(entry["start_ms"])) >= after:
                return int(str(entry["start_ms"]))
        time.sleep(0.005)
    raise SystemExit(f"the simulator never started the spike on {device}/{point}")


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    with isolated_stack(workdir / "stack") as settings:
        env = dict(os.environ)
        env["PARKWATCH_API_AUTH"] = "off"
        comps = [Component("api", ["api"], workdir / "api.log"),
                 Component("bridge", ["bridge"], workdir / "bridge.log")]
        comps += [Component(f"worker-{i}", ["processor", "worker"], workdir / f"worker-{i}.log")
                  for i in range(args.workers)]
        gw_path = _gateway_config(workdir, args.poll_interval)
        sim = FieldSimulator([load_gateway(gw_path)], seed=args.seed, tick_s=args.tick)
        load = BackgroundLoad(settings, args.rate, args.gateways, args.devices, args.points)
        edge = Component("edge", ["edge", "run", "--config", str(gw_path)], workdir / "edge.log")
        latencies: list[float] = []
        missed = 0
        try:
            for comp in comps:
                comp.start(env)
            api = httpx.Client(base_url=settings.api_url, timeout=5.0)
            _wait_healthy(api, comps)
            with SimulatorThread(sim):
                edge.start(env)
                load.start()
                time.sleep(args.warmup)
                # Analog points only: a state bit or a counter has no value a spike could move.
                targets = [(d.id, p) for d in sim.devices for p, s in d.signals.items()
                           if s.hint is not None and s.hint.kind not in ("state", "counter")]
                load_start, load_t0 = load.acked(), time.monotonic()
                turn = 0
                for i in range(args.spikes):
                    turn, device, point = _next_target(api, targets, turn)
                    injected = int(time.time() * 1000)
                    sim.inject(Anomaly("spike", device, point))
                    start_ms = _truth_start(sim, device, point, injected - 50, 5.0)
                    deadline = time.monotonic() + args.timeout
                    seen: int | None = None
                    while time.monotonic() < deadline:
                        if _alert_listed(api, device, point, since_ms=start_ms):
                            seen = int(time.time() * 1000)
                            break
                        time.sleep(args.poll)
                    for comp in [*comps, edge]:
                        if not comp.alive:
                            raise SystemExit(f"{comp.name} died:\n{comp.log_tail()}")
                    if seen is None:
                        missed += 1
                        print(f"spike {i} on {device}/{point}: no alert in {args.timeout:.0f}s", flush=True)
                    else:
                        latencies.append(seen - start_ms)
                        print(f"spike {i} on {device}/{point}: {seen - start_ms} ms", flush=True)
                    time.sleep(args.gap)
                load_rate = (load.acked() - load_start) / (time.monotonic() - load_t0)
                load.stop()
                edge.stop()
        finally:
            edge.stop()
            for comp in reversed(comps):
                comp.stop()
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = _percentile(latencies, 99) if latencies else float("nan")
    print(f"logs in {workdir}")
    print(f"p50_ms={p50:.0f} p99_ms={p99:.0f} load_readings_per_s={load_rate:.0f} missed={missed}")


def _wait_healthy(api: httpx.Client, comps: list[Component], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for comp in comps:
            if not comp.alive:
                raise SystemExit(f"{comp.name} died:\n{comp.log_tail()}")
        try:
            if api.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("API not healthy in time")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spikes", type=int, default=30, help="spikes injected, one at a time")
    parser.add_argument("--rate", type=float, default=10_000.0, help="background readings/s")
    parser.add_argument("--gateways", type=int, default=10, help="background gateways")
    parser.add_argument("--devices", type=int, default=5, help="devices per background gateway")
    parser.add_argument("--points", type=int, default=40, help="points per background device")
    parser.add_argument("--poll-interval", default="100ms", help="edge poll and frame interval")
    parser.add_argument("--tick", type=float, default=0.05, help="simulator tick, seconds")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before the first spike")
    parser.add_argument("--gap", type=float, default=1.5, help="seconds between an alert and the next spike")
    parser.add_argument("--poll", type=float, default=0.05, help="API polling interval, seconds")
    parser.add_argument("--timeout", type=float, default=10.0, help="a spike with no alert by then is missed")
    parser.add_argument("--workers", type=int, default=1, help="Faust workers")
    parser.add_argument("--seed", type=int, default=1)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
