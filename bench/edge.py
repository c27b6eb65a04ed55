"""Edge agent alone: 100 Modbus devices x 20 points at 1 Hz, then a replay burst after an outage.

``python -m bench.edge`` runs the field simulator (in this process), a
private Mosquitto, and ``parkwatch edge run`` as a subprocess with its
durable outbox, and measures that subprocess only (CPU from
``/proc/<pid>/stat``, peak RSS from ``/proc/<pid>/status``). Phases:

1. **live** (``--live``, 20 s): 2,000 readings/s polled, framed, stored, sent;
2. **outage** (``--outage``, 15 s): the broker is stopped; frames pile up in
   the outbox (about 30,000 readings);
3. **replay**: the broker is back; the backlog is replayed at the
   configured ``replay_rate`` (20,000 readings/s) while live data goes on,
   until the outbox is empty.

Prints a line per phase and, last::

    readings_per_s=<N> cpu_per_1k_readings_s=<fraction of a core> rss_mb=<N>

where readings_per_s is what the broker acknowledged per second over the
whole run (live + replay), cpu_per_1k_readings_s is agent CPU seconds per
1,000 acknowledged readings, and rss_mb the agent's peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from edge_agent.config import load_gateway
from edge_agent.testing import PrivateBroker
from field_sim.simulator import FieldSimulator
from field_sim.threaded import SimulatorThread
from parkwatch.testing import free_port

__all__ = ["main"]

POINTS = 20
UNITS_PER_PORT = 25


def _profile(path: Path) -> None:
    points = [
        {"name": f"p{i:02d}", "register": "input", "address": 2 * i, "type": "float32", "byte_order": "ABCD",
         "signal": {"kind": "gas", "nominal": 10.0 + i, "noise": 0.5, "range": [0, 100]}}
        for i in range(POINTS)
    ]  # fmt: skip
    doc = {"name": "bench20", "description": "20 float points", "addressing": "0-based", "points": points}
    path.write_text(yaml.safe_dump(doc))


def _config(home: Path, devices: int, metrics_port: int) -> Path:
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    _profile(home / "profiles" / "bench20.yaml")
    ports = [free_port() for _ in range((devices + UNITS_PER_PORT - 1) // UNITS_PER_PORT)]
    doc = {
        "site": "bench",
        "gateway": "gw-edge",
        "profiles_dir": "profiles",
        "state_dir": "state",
        "uplink": {"frame_interval": "1s", "max_readings_per_frame": 5000, "flush_timeout": "30s",
                   "reconnect_max": "1s"},
        "outbox": {"replay_rate": 20000, "durability": "power_loss"},
        "metrics": {"port": metrics_port},
        "devices": [
            {"id": f"dev-{i:03d}", "driver": "modbus_tcp", "host": "127.0.0.1",
             "port": ports[i // UNITS_PER_PORT], "unit_id": 1 + i % UNITS_PER_PORT, "profile": "bench20",
             "poll_interval": "1s", "timeout": "800ms"}
            for i in range(devices)
        ],
    }  # fmt: skip
    path = home / "gw.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_peak_mb(pid: int) -> float:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name.removeprefix("parkwatch_edge_")] = float(value)
    return out


def _wait_metrics(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _metrics(port)
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("agent metrics endpoint did not come up")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--live", type=float, default=20.0, help="seconds of live operation")
    parser.add_argument("--outage", type=float, default=15.0, help="seconds the broker is down")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        home = Path(tmp)
        home.chmod(0o755)  # the broker may run as the ``mosquitto`` user
        metrics_port = free_port()
        config = _config(home, args.devices, metrics_port)
        gateway = load_gateway(config)
        with PrivateBroker(home / "broker") as broker, SimulatorThread(FieldSimulator([gateway], tick_s=1.0)):
            env = {**os.environ, "PARKWATCH_MQTT_HOST": "127.0.0.1", "PARKWATCH_MQTT_PORT": str(broker.port)}
            agent = subprocess.Popen(
                [sys.executable, "-m", "parkwatch", "edge", "run", "--config", str(config),
                 "--log-level", "WARNING"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            try:
                _wait_metrics(metrics_port)
                time.sleep(2)  # connections to the simulated devices settle
                t0, cpu0, m0 = time.monotonic(), _cpu_s(agent.pid), _metrics(metrics_port)
                time.sleep(args.live)
                t1, cpu1, m1 = time.monotonic(), _cpu_s(agent.pid), _metrics(metrics_port)
                live_rate = (m1["readings_acked_total"] - m0["readings_acked_total"]) / (t1 - t0)
                print(f"live: readings_per_s={live_rate:.0f} cpu_core={(cpu1 - cpu0) / (t1 - t0):.3f}")
                broker.stop()
                time.sleep(args.outage)
                backlog = _metrics(metrics_port)
                print(f"outage: outbox_records={backlog['outbox_records']:.0f} "
                      f"outbox_bytes={backlog['outbox_bytes']:.0f}")  # fmt: skip
                cpu2, t2 = _cpu_s(agent.pid), time.monotonic()
                replayed0 = backlog["readings_replayed_total"]
                broker.start()
                deadline = time.monotonic() + 120
                m = backlog
                while time.monotonic() < deadline:
                    m = _metrics(metrics_port)
                    if (
                        m["mqtt_connected"]
                        and m["outbox_records"] <= 2
                        and m["readings_replayed_total"] > replayed0
                    ):
                        break
                    time.sleep(0.1)
                t3, cpu3 = time.monotonic(), _cpu_s(agent.pid)
                replayed = m["readings_replayed_total"] - replayed0
                took = t3 - t2
                core = (cpu3 - cpu2) / took
                print(f"replay: readings={replayed:.0f} seconds={took:.1f} "
                      f"readings_per_s={replayed / took:.0f} cpu_core={core:.3f}")  # fmt: skip
                acked = m["readings_acked_total"] - m0["readings_acked_total"]
                cpu = cpu3 - cpu0
                rss = _rss_peak_mb(agent.pid)
                wall = t3 - t0
            finally:
                agent.send_signal(signal.SIGTERM)
                agent.communicate(timeout=60)
    dropped = m["outbox_frames_dropped_total"]
    print(f"agent: acked={acked:.0f} wall_s={wall:.1f} cpu_s={cpu:.2f} frames_dropped={dropped:.0f}")
    print(
        f"readings_per_s={acked / wall:.0f} cpu_per_1k_readings_s={cpu / (acked / 1000):.4f} rss_mb={rss:.0f}"
    )


if __name__ == "__main__":
    main()
