"""``parkwatch``: the one command line in front of every component.

Subcommands live with their component and are imported only when used, so
``parkwatch stack status`` does not pay for importing Faust.
"""

from __future__ import annotations

import importlib
import sys

import click

from parkwatch.errors import ParkwatchError
from parkwatch.settings import load_settings
from parkwatch.stack import ServiceStatus, stack_down, stack_status, stack_up

__all__ = ["main"]

#: name -> "module:attribute" of a click command, imported on first use.
_LAZY_COMMANDS = {
    "simulate": "field_sim.cli:simulate",
    "edge": "edge_agent.cli:edge",
    "bridge": "stream_processor.cli:bridge",
    "processor": "stream_processor.cli:processor",
    "api": "cloud_api.cli:api",
    "rules": "cloud_api.rules_file:rules",
    "demo": "parkwatch.demo:demo",
    "dashboards": "dashboards.cli:dashboards",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup)
def cli() -> None:
    """parkwatch: streaming edge-to-cloud monitoring for industrial parks."""


@cli.group()
def stack() -> None:
    """Local services: Mosquitto, Tansu (Kafka protocol) and InfluxDB."""


def _print(statuses: list[ServiceStatus]) -> None:
    for s in statuses:
        pid = f"pid {s.pid}" if s.pid else ""
        click.echo(f"{s.name:<10} {s.state:<36} {s.endpoint:<28} {pid}")


@stack.command("up")
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, help="Seconds per service.")
def stack_up_cmd(timeout_s: float) -> None:
    """Start the services that are not running and wait until each is healthy."""
    _print(stack_up(load_settings(), timeout_s))


@stack.command("down")
def stack_down_cmd() -> None:
    """Stop the services started from this state directory."""
    _print(stack_down(load_settings()))


@stack.command("status")
def stack_status_cmd() -> None:
    """Show each service's state; exits 1 unless all are running."""
    statuses = stack_status(load_settings())
    _print(statuses)
    if not all(s.state.startswith("running") for s in statuses):
        sys.exit(1)


def main() -> None:
    """Console-script entry point: parkwatch errors become one clear line and exit 2."""
    try:
        cli(standalone_mode=True)
    except ParkwatchError as exc:
        click.echo(f"parkwatch: {exc}", err=True)
        sys.exit(2)
