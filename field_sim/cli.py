"""``parkwatch simulate``: serve a simulated park over Modbus TCP until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from edge_agent.config import load_gateway
from field_sim.anomalies import Anomaly, parse_inject
from field_sim.simulator import FieldSimulator
from parkwatch.durations import click_duration
from parkwatch.errors import ConfigError

__all__ = ["simulate"]


def _injections(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[Anomaly]:
    try:
        return [parse_inject(spec) for spec in value]
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option(
    "--gateway-config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Gateway config whose devices to serve; repeatable.",
)
@click.option("--seed", default=0, show_default=True, help="Seed: the same seed gives the same values.")
@click.option(
    "--tick",
    "tick_s",
    default="1s",
    show_default=True,
    callback=click_duration,
    help="How often values change, e.g. 1s or 200ms.",
)
@click.option(
    "--day-length",
    "day_length_s",
    default="24h",
    show_default=True,
    callback=click_duration,
    help="Period of the slow daily cycle; shorten it for demos (e.g. 10m).",
)
@click.option(
    "--inject",
    "anomalies",
    multiple=True,
    callback=_injections,
    metavar="SPEC",
    help="KIND:DEVICE:POINT:at=20s[:magnitude=M][:duration=5s], KIND one of spike, level_shift, "
    "drift, stuck; repeatable.",
)
@click.option(
    "--truth-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append one JSON line per anomaly as it starts.",
)
@click.option(
    "--duration", "duration_s", callback=click_duration, help="Stop after this long (seconds or 30s, 5m)."
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def simulate(
    configs: tuple[Path, ...],
    seed: int,
    tick_s: float,
    day_length_s: float,
    anomalies: list[Anomaly],
    truth_log: Path | None,
    duration_s: float | None,
    log_level: str,
) -> None:
    """Serve the devices of gateway configs as Modbus TCP servers with realistic, seeded values.

    Runs until SIGINT/SIGTERM or --duration, then exits 0.
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.WARNING)
    gateways = [load_gateway(path) for path in configs]
    simulator = FieldSimulator(
        gateways,
        seed=seed,
        tick_s=tick_s,
        day_length_s=day_length_s,
        anomalies=anomalies,
        truth_log=truth_log,
    )
    asyncio.run(_serve(simulator, duration_s))
    click.echo(f"simulate: stopped after {simulator.ticks} ticks, {len(simulator.truth)} anomalies injected")


async def _serve(simulator: FieldSimulator, duration_s: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await simulator.start()
    endpoints = ", ".join(f"{host}:{port}" for host, port in simulator.endpoints)
    click.echo(f"simulate: serving {len(simulator.devices)} devices on {endpoints}", nl=True)
    await simulator.run(stop, duration_s)
