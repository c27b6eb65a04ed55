"""``parkwatch api``: serve the cloud API with uvicorn; ``parkwatch api users|tokens``: accounts.

``parkwatch api`` with no subcommand serves (as it always did; ``parkwatch api
serve`` is the same), so the demo's command line keeps working. The account
commands work on the database ``PARKWATCH_API_DB_URL`` names, with or without
a running server, and are audited as actor ``cli:<login>``::

    parkwatch api users add ada --role admin
    parkwatch api users add ines --role inspector --site north --site south
    parkwatch api tokens create ada --expires-days 90      # prints the token once
    parkwatch api tokens revoke <token-id>

SIGTERM and SIGINT shut down gracefully (open requests finish, the consumer
leaves its group, the store is closed) and the process then exits 0. Uvicorn
re-raises the signal it caught once it has shut down; the handlers installed
here receive that and turn it into a normal exit instead of a death by signal
or a ``KeyboardInterrupt`` traceback.
"""

from __future__ import annotations

import gc
import getpass
import logging
import signal
import sys
from types import FrameType
from typing import Any

import click
import uvicorn

from cloud_api.accounts import ROLES, AccountError, AccountStore
from cloud_api.app import create_app
from cloud_api.audit import AuditLog
from cloud_api.db import Database, normalise_url
from cloud_api.dependencies import now_ms
from parkwatch.settings import load_settings

__all__ = ["api"]

_SERVE_OPTIONS = [
    click.option("--host", default=None, help="Interface to listen on [default: PARKWATCH_API_HOST]."),
    click.option(
        "--port", type=click.IntRange(0, 65535), default=None, help="[default: PARKWATCH_API_PORT]."
    ),
    click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"]),
        default="info",
        show_default=True,
    ),
]


def _serve_options(f: Any) -> Any:
    for option in reversed(_SERVE_OPTIONS):
        f = option(f)
    return f


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@click.group(invoke_without_command=True)
@_serve_options
@click.pass_context
def api(ctx: click.Context, host: str | None, port: int | None, log_level: str) -> None:
    """Serve the cloud API (alerts from Kafka, REST under /api/v1, /healthz, /docs); see `serve`."""
    if ctx.invoked_subcommand is None:
        _serve(host, port, log_level)


@api.command("serve")
@_serve_options
def serve(host: str | None, port: int | None, log_level: str) -> None:
    """Serve the cloud API (the default when no subcommand is given)."""
    _serve(host, port, log_level)


def _serve(host: str | None, port: int | None, log_level: str) -> None:
    settings = load_settings()
    host = host if host is not None else settings.api_host
    port = port if port is not None else settings.api_port
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    app = create_app(settings)  # ConfigError here: one line from parkwatch's main, exit 2
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on"))
    # What exists now (modules, the app, its routes and schemas: ~120,000 objects) lives as long as
    # the process. Frozen, it is left out of the collector's full passes, each of which otherwise
    # stopped every request for ~130 ms, every few seconds under load.
    gc.collect()
    gc.freeze()
    previous = {sig: signal.signal(sig, _exit_cleanly) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        # Lifespan startup failed (uvicorn has logged why) or the port was taken.
        sys.exit(3)


# -- accounts ------------------------------------------------------------------------------------


def _open_db() -> Database:
    settings = load_settings()
    db = Database(normalise_url(settings.api_db_url, settings.state_dir))
    db.open()
    return db


def _audit(db: Database, action: str, target: str, detail: dict[str, Any]) -> None:
    AuditLog(db).record(now_ms(), f"cli:{getpass.getuser()}", "admin", action, target, detail)


@api.group()
def users() -> None:
    """Users, their roles and (for inspectors) sites."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
@click.option("--site", "sites", multiple=True, help="A site an inspector may see; repeat for several.")
def users_add(name: str, role: str, sites: tuple[str, ...]) -> None:
    """Add a user (the first admin is created this way)."""
    db = _open_db()
    try:
        AccountStore(db).add_user(name, role, list(sites), now_ms())
        _audit(db, "user.create", f"user:{name}", {"role": role, "sites": list(sites)})
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    click.echo(f"added {role} {name}")


@users.command("sites")
@click.argument("name")
@click.option("--site", "sites", multiple=True, help="Replaces the user's sites; repeat for several.")
def users_sites(name: str, sites: tuple[str, ...]) -> None:
    """Set the sites an inspector may see."""
    db = _open_db()
    try:
        AccountStore(db).set_sites(name, list(sites))
        _audit(db, "user.sites", f"user:{name}", {"sites": list(sites)})
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()


@users.command("list")
def users_list() -> None:
    """List users."""
    db = _open_db()
    try:
        for name, role, sites, disabled in AccountStore(db).list_users():
            click.echo(f"{name:<24} {role:<10} {','.join(sites) or '-':<30} {'disabled' if disabled else ''}")
    finally:
        db.close()


@api.group()
def tokens() -> None:
    """API tokens (stored as SHA-256 hashes; shown once when created)."""


@tokens.command("create")
@click.argument("user")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None, help="[default: never]")
@click.option("--description", default="", help="What the token is for.")
def tokens_create(user: str, expires_days: int | None, description: str) -> None:
    """Create a token for USER and print it (only now; it cannot be shown again)."""
    now = now_ms()
    expires = now + expires_days * 86_400_000 if expires_days else None
    db = _open_db()
    try:
        token = AccountStore(db).create_token(user, now, expires, description)
        _audit(db, "token.create", f"token:{token.token_id}", {"user": user, "expires_ms": expires})
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    click.echo(token.text)


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id (the part after ``pw_``)."""
    db = _open_db()
    try:
        AccountStore(db).revoke_token(token_id, now_ms())
        _audit(db, "token.revoke", f"token:{token_id}", {})
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
