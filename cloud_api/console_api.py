"""``/console/``: the web console, static files shipped in ``cloud_api/console/``.

Three pages, plain HTML/CSS/JavaScript with no build step and nothing fetched
from the internet:

* ``/console/wall``: the command centre's big screen (sites and gateways,
  counts, live alert feed, sparklines), updating from ``/api/v1/stream``;
* ``/console/inspector``: the phone page (my open alerts, detail with the
  trend and why it fired, acknowledge and resolve with a comment);
* ``/console/rules``: the monitoring rules, enable and disable, each rule's versions.

The pages call the same REST API and stream as any client, with the token the
user gives (kept in the browser's ``localStorage``; ``#token=...`` in the URL
also sets it, for a wall display started by a script). With
``PARKWATCH_API_AUTH=off`` they work without one. The pages themselves are
public: they hold no data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

__all__ = ["router", "CONSOLE_DIR"]

CONSOLE_DIR: Final = Path(__file__).with_name("console")
_ASSET: Final = re.compile(r"^[a-z0-9_-]+\.(js|css|svg)$")
_HEADERS: Final = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    ),
}

router = APIRouter(prefix="/console", include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(CONSOLE_DIR / name, media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("")
def console_root() -> RedirectResponse:
    return RedirectResponse("/console/")


@router.get("/")
def console_index() -> FileResponse:
    return _page("index.html")


@router.get("/wall")
def wall() -> FileResponse:
    return _page("wall.html")


@router.get("/inspector")
def inspector() -> FileResponse:
    return _page("inspector.html")


@router.get("/rules")
def rules() -> FileResponse:
    return _page("rules.html")


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    path = CONSOLE_DIR / name
    if not _ASSET.match(name) or not path.is_file():
        raise HTTPException(404, f"no console file {name!r}")
    return FileResponse(path, headers=_HEADERS)
