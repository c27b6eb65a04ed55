"""``parkwatch bridge`` and ``parkwatch processor``: the stream processor's commands.

Heavy modules (paho, aiokafka, Faust) are imported inside the commands, so
``parkwatch --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from parkwatch.settings import load_settings

__all__ = ["bridge", "processor"]

_F = TypeVar("_F", bound=Callable[..., Any])
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


def _config_option(what: str) -> Callable[[_F], _F]:
    return click.option(
        "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None, help=f"YAML file with the {what} config (defaults for anything it omits).",
    )


@click.command()
@_config_option("bridge")
@click.option("--client-id", default=None, help="MQTT client id (stable: the broker queues for it).")
@click.option("--share-group", default=None, help="MQTT shared-subscription group.")
@click.option("--linger", default=None, help="Producer linger, e.g. 5ms.")
@click.option("--compression", default=None, help="none, gzip, snappy, lz4 or zstd.")
@click.option("--stats-interval", default=None, help="How often to log counters, e.g. 5s.")
@click.option("--loglevel", type=_LEVELS, default="info", show_default=True)
def bridge(
    config_path: Path | None,
    client_id: str | None,
    share_group: str | None,
    linger: str | None,
    compression: str | None,
    stats_interval: str | None,
    loglevel: str,
) -> None:
    """Forward MQTT frames to Kafka until SIGTERM/SIGINT, then flush and exit 0."""
    from stream_processor.bridge import Bridge, BridgeConfig
    from stream_processor.config_files import load_model

    config = load_model(
        BridgeConfig,
        config_path,
        {"client_id": client_id, "share_group": share_group, "linger": linger,
         "compression": compression, "stats_interval": stats_interval},
    )
    logging.basicConfig(level=loglevel.upper(), format=_LOG_FORMAT)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Bridge(load_settings(), config).run(stop)

    asyncio.run(main())


@click.group()
def processor() -> None:
    """The Faust stream processor: scores readings, raises alerts, writes InfluxDB."""


@processor.command("worker")
@_config_option("processor")
@click.option("--loglevel", type=_LEVELS, default="info", show_default=True)
@click.option("--web-port", type=int, default=None,
              help="Serve Faust's web views on this port (off by default).")
def worker(config_path: Path | None, loglevel: str, web_port: int | None) -> None:
    """Run one worker until SIGTERM/SIGINT; exits 0 after a clean stop."""
    from stream_processor.config import ProcessorConfig
    from stream_processor.config_files import load_model
    from stream_processor.worker import run_worker

    config = load_model(ProcessorConfig, config_path)
    run_worker(load_settings(), config, loglevel=loglevel, web_port=web_port)
