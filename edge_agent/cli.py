"""``parkwatch edge``: run the edge agent for one gateway config."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from edge_agent.agent import AgentResult, EdgeAgent
from edge_agent.config import load_gateway
from parkwatch.durations import click_duration

__all__ = ["edge"]


@click.group()
def edge() -> None:
    """The edge agent: poll field devices, publish frames over MQTT."""


@edge.command("run")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Gateway config (YAML).",
)
@click.option(
    "--duration", "duration_s", callback=click_duration, help="Stop after this long (seconds, or 30s, 5m)."
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def run(config_path: Path, duration_s: float | None, log_level: str) -> None:
    """Poll the devices of a gateway config and publish their readings until SIGINT/SIGTERM or --duration.

    On the way out: stop polling, send the last frame, wait for outstanding
    acknowledgements, publish the final retained status, and print
    ``readings_sent=N frames_sent=N`` (acknowledged by the broker) as the last
    line of stdout.
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(
        logging.CRITICAL
    )  # the runner logs device failures once, with context
    gateway = load_gateway(config_path)
    agent = EdgeAgent(gateway)
    result = asyncio.run(_run(agent, duration_s))
    click.echo(f"readings_sent={result.readings_acked} frames_sent={result.frames_acked}")


async def _run(agent: EdgeAgent, duration_s: float | None) -> AgentResult:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return await agent.run(stop, duration_s)
