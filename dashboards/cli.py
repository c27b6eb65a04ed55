"""``parkwatch dashboards``: build the dashboard JSON, push it to a Grafana.

``build`` needs nothing running; ``push`` needs a Grafana URL and a
service-account token with the Editor role. Errors surface as
:class:`~parkwatch.errors.ParkwatchError` subclasses, which ``parkwatch``
prints on one line before exiting with status 2.
"""

from __future__ import annotations

from pathlib import Path

import click

from dashboards.errors import DashboardError
from dashboards.push import DEFAULT_FOLDER_TITLE, DEFAULT_FOLDER_UID, Grafana, push_dashboards
from dashboards.render import JSON_DIR, render_all, write_json

__all__ = ["dashboards"]


@click.group()
def dashboards() -> None:
    """Grafana dashboards as code: park overview, drill-down, alerts, pipeline health."""


@dashboards.command("build")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=JSON_DIR,
    show_default=True,
    help="Directory to write <uid>.json into.",
)
def build_cmd(out_dir: Path) -> None:
    """Render and validate every dashboard and write its JSON."""
    for path in write_json(out_dir):
        click.echo(str(path))


@dashboards.command("push")
@click.option("--url", envvar="GRAFANA_URL", required=True, help="Grafana's URL, e.g. http://localhost:3000.")
@click.option(
    "--token",
    envvar="GRAFANA_TOKEN",
    default="",
    help="Service-account token (Editor role); or put user:password in the URL.",
)
@click.option("--folder", "folder_uid", default=DEFAULT_FOLDER_UID, show_default=True, help="Folder uid.")
@click.option("--folder-title", default=DEFAULT_FOLDER_TITLE, show_default=True, help="Title if created.")
@click.option(
    "--message",
    default="parkwatch dashboards push",
    show_default=True,
    help="Start of the version message; what changed is appended.",
)
@click.option("--timeout", "timeout_s", default=10.0, show_default=True, help="Seconds per request.")
def push_cmd(
    url: str, token: str, folder_uid: str, folder_title: str, message: str, timeout_s: float
) -> None:
    """Create or update the dashboards in Grafana, idempotent by uid.

    Prints one line per dashboard: created, updated (with what changed),
    unchanged (skipped, no new version) or refused (with Grafana's reason).
    Exits non-zero if Grafana refused any.
    """
    grafana = Grafana(url, token, timeout_s=timeout_s)
    results = []
    for result in push_dashboards(
        grafana, render_all().values(), folder_uid=folder_uid, folder_title=folder_title, message=message
    ):
        click.echo(result.line())
        results.append(result)
    refused = [r.uid for r in results if r.outcome == "refused"]
    if refused:
        raise DashboardError(
            f"Grafana refused {len(refused)} of {len(results)} dashboards: {', '.join(refused)}"
        )
