"""``parkwatch api``: serve the cloud API with uvicorn.

SIGTERM and SIGINT shut down gracefully (open requests finish, the consumer
leaves its group, the store is closed) and the process then exits 0. Uvicorn
re-raises the signal it caught once it has shut down; the handlers installed
here receive that and turn it into a normal exit instead of a death by signal
or a ``KeyboardInterrupt`` traceback.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import click
import uvicorn

from cloud_api.app import create_app
from parkwatch.settings import load_settings

__all__ = ["api"]


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@click.command()
@click.option("--host", default=None, help="Interface to listen on [default: PARKWATCH_API_HOST].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="[default: PARKWATCH_API_PORT].")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def api(host: str | None, port: int | None, log_level: str) -> None:
    """Serve the cloud API (alerts from Kafka, REST under /api/v1, /healthz, /docs)."""
    settings = load_settings()
    host = host if host is not None else settings.api_host
    port = port if port is not None else settings.api_port
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    app = create_app(settings)  # ConfigError here: one line from parkwatch's main, exit 2
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on"))
    previous = {sig: signal.signal(sig, _exit_cleanly) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        # Lifespan startup failed (uvicorn has logged why) or the port was taken.
        sys.exit(3)
