"""``parkwatch dashboards push`` at the HTTP boundary.

grafana-client talks to a real HTTP server on a free port that answers the
endpoints push uses the way Grafana 11 does (status codes, JSON bodies,
version numbers, folders) and records every request, so these tests check what
goes over the wire, not which client methods were called.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from dashboards.cli import dashboards
from dashboards.errors import DashboardError, GrafanaAuthError, GrafanaUnreachable
from dashboards.push import Grafana, PushResult, push_dashboards
from dashboards.render import render_all
from parkwatch.errors import ConfigError
from parkwatch.testing import free_port

TOKEN = "glsa_good"


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeGrafana:
    """Grafana's dashboard and folder API, in memory, behind a real HTTP listener."""

    token: str = TOKEN
    #: Tokens that authenticate but may only read (a Viewer's service account).
    viewer_tokens: tuple[str, ...] = ()
    prefix: str = ""
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: uid -> {"dashboard": ..., "meta": ...}, as GET /api/dashboards/uid/<uid> returns it.
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: uid -> every saved version's message, oldest first (Grafana's version history).
    history: dict[str, list[str]] = field(default_factory=dict)
    #: uid -> (status, body) that POST /api/dashboards/db answers for that dashboard.
    refuse: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _next_id: int = 1

    def answer(self, method: str, path: str, authorization: str | None, body: Any) -> tuple[int, Any]:
        self.requests.append(Request(method, path, authorization, body))
        if not path.startswith(f"{self.prefix}/api/"):
            return 404, "404 page not found"
        path = path.removeprefix(self.prefix)
        if path == "/api/health":
            return 200, {"commit": "d2fdff9ee4", "database": "ok", "version": "11.6.0"}
        if authorization not in (f"Bearer {self.token}", *(f"Bearer {t}" for t in self.viewer_tokens)):
            return 401, {"message": "Invalid API key", "messageId": "api-keys.invalid", "statusCode": 401}
        viewer = authorization != f"Bearer {self.token}"
        if method == "GET" and path.startswith("/api/folders/"):
            uid = path.removeprefix("/api/folders/")
            if uid not in self.folders:
                return 404, {"message": "folder not found", "messageId": "folder.notFound", "statusCode": 404}
            return 200, self.folders[uid]
        if method == "POST" and path == "/api/folders":
            if viewer:
                return 403, {"message": "You'll need additional permissions to perform this action."}
            folder = {"id": self._new_id(), "uid": body["uid"], "title": body["title"], "version": 1}
            self.folders[body["uid"]] = folder
            return 200, folder
        if method == "GET" and path.startswith("/api/dashboards/uid/"):
            uid = path.removeprefix("/api/dashboards/uid/")
            if uid not in self.stored:
                return 404, {"message": "Dashboard not found", "messageId": "dashboards.notFound"}
            return 200, self.stored[uid]
        if method == "POST" and path == "/api/dashboards/db":
            return self._save(body, viewer)
        return 404, {"message": "Not found"}

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _save(self, body: dict[str, Any], viewer: bool) -> tuple[int, Any]:
        if viewer:
            return 403, {"message": "Access denied"}
        dashboard, folder_uid = body["dashboard"], body.get("folderUid", "")
        uid = dashboard["uid"]
        if uid in self.refuse:
            return self.refuse[uid]
        if folder_uid not in self.folders:
            return 400, {"message": "folder not found", "status": "folder-not-found"}
        for other_uid, other in self.stored.items():
            same_place = other["meta"]["folderUid"] == folder_uid
            if other_uid != uid and same_place and other["dashboard"]["title"] == dashboard["title"]:
                return 412, {
                    "message": "A dashboard with the same name in the folder already exists",
                    "status": "name-exists",
                }
        previous = self.stored.get(uid)
        if previous is not None and not body.get("overwrite"):
            changed = "The dashboard has been changed by someone else"
            return 412, {"message": changed, "status": "version-mismatch"}
        version = previous["dashboard"]["version"] + 1 if previous else 1
        ident = previous["dashboard"]["id"] if previous else self._new_id()
        self.put(dashboard, folder_uid, version=version, ident=ident)
        self.history.setdefault(uid, []).append(body.get("message", ""))
        slug = dashboard["title"].lower().replace(" ", "-")
        url = f"/d/{uid}/{slug}"
        return 200, {"id": ident, "uid": uid, "url": url, "status": "success", "version": version}

    def put(self, dashboard: dict[str, Any], folder_uid: str, *, version: int = 1, ident: int = 0) -> None:
        """Store a dashboard directly, as if someone had saved it before the test."""
        uid = dashboard["uid"]
        self.stored[uid] = {
            "dashboard": {**copy.deepcopy(dashboard), "id": ident or self._new_id(), "version": version},
            "meta": {"folderUid": folder_uid, "folderTitle": folder_uid, "version": version, "slug": uid},
        }


#: The fake and the URL it listens on.
Server = tuple[FakeGrafana, str]


@pytest.fixture
def grafana_server() -> Iterator[Server]:
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, answer = fake.answer(self.command, self.path, self.headers.get("Authorization"), body)
            text = answer if isinstance(answer, str) else json.dumps(answer)
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(answer, str) else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _push(url: str, token: str = TOKEN, docs: list[dict[str, Any]] | None = None) -> list[PushResult]:
    docs = list(render_all().values()) if docs is None else docs
    return list(push_dashboards(Grafana(url, token, timeout_s=5), docs))


def test_first_push_creates_the_folder_and_every_dashboard(grafana_server: Server) -> None:
    fake, url = grafana_server
    docs = render_all()

    results = _push(url)

    assert [(r.uid, r.outcome, r.version) for r in results] == [(uid, "created", 1) for uid in docs]
    calls = [(r.method, r.path) for r in fake.requests]
    assert calls[:3] == [("GET", "/api/health"), ("GET", "/api/folders/parkwatch"), ("POST", "/api/folders")]
    assert fake.requests[2].body == {"uid": "parkwatch", "title": "parkwatch"}
    for uid in docs:
        assert ("GET", f"/api/dashboards/uid/{uid}") in calls
    saves = [r for r in fake.requests if r.path == "/api/dashboards/db"]
    assert len(saves) == len(docs)
    for save in saves:
        uid = save.body["dashboard"]["uid"]
        assert save.body["dashboard"] == docs[uid]  # exactly the built JSON: no id, no version
        assert save.body["folderUid"] == "parkwatch"
        assert save.body["overwrite"] is True
        assert save.body["message"] == "parkwatch dashboards push: created"
    assert all(r.authorization == f"Bearer {TOKEN}" for r in fake.requests if r.path != "/api/health")


def test_a_second_push_changes_nothing(grafana_server: Server) -> None:
    fake, url = grafana_server
    _push(url)
    fake.requests.clear()

    results = _push(url)

    assert {r.outcome for r in results} == {"unchanged"}
    assert [r.version for r in results] == [1] * len(results)
    assert not [r for r in fake.requests if r.method == "POST"]
    assert all(len(messages) == 1 for messages in fake.history.values())


def test_an_update_keeps_history_and_says_what_changed(grafana_server: Server) -> None:
    fake, url = grafana_server
    docs = render_all()
    older = copy.deepcopy(docs["parkwatch-overview"])
    older["refresh"] = "1m"
    older["panels"][1]["title"] = "Critical alarms"
    del older["panels"][2]
    _push(url, docs=[older])

    results = {r.uid: r for r in _push(url)}

    overview = results["parkwatch-overview"]
    assert overview.outcome == "updated"
    assert overview.version == 2
    assert overview.changes == (
        "panels added: Active critical, Active warning",
        "panels removed: Critical alarms",
        "settings changed: refresh",
    )
    assert fake.history["parkwatch-overview"][0] == "parkwatch dashboards push: created"
    assert fake.history["parkwatch-overview"][1] == (
        "parkwatch dashboards push: panels added: Active critical, Active warning; "
        "panels removed: Critical alarms; settings changed: refresh"
    )
    assert fake.stored["parkwatch-overview"]["dashboard"]["refresh"] == "10s"
    assert {results[uid].outcome for uid in docs if uid != "parkwatch-overview"} == {"created"}


def test_a_dashboard_in_another_folder_is_moved(grafana_server: Server) -> None:
    fake, url = grafana_server
    docs = render_all()
    fake.folders["general"] = {"uid": "general", "title": "General"}
    fake.put(docs["parkwatch-alerts"], "general", version=7)

    results = {r.uid: r for r in _push(url)}

    assert results["parkwatch-alerts"].outcome == "updated"
    assert results["parkwatch-alerts"].version == 8
    assert results["parkwatch-alerts"].changes == ("moved to folder parkwatch",)
    assert fake.stored["parkwatch-alerts"]["meta"]["folderUid"] == "parkwatch"


def test_a_url_where_nothing_listens_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(GrafanaUnreachable, match=rf"cannot reach Grafana at {url}/?: connection refused"):
        _push(url)


def test_a_url_that_is_not_grafana_is_a_clear_error(grafana_server: Server) -> None:
    fake, url = grafana_server
    fake.prefix = "/grafana"  # Grafana lives under a sub-path; the URL given lacks it
    with pytest.raises(GrafanaUnreachable, match=r"no Grafana API at .*api/health answered HTTP 404"):
        _push(url)


def test_a_grafana_under_a_sub_path_is_reached(grafana_server: Server) -> None:
    fake, url = grafana_server
    fake.prefix = "/grafana"
    results = _push(f"{url}/grafana")
    assert {r.outcome for r in results} == {"created"}
    assert all(r.path.startswith("/grafana/api/") for r in fake.requests)


def test_a_malformed_url_is_refused_before_any_request() -> None:
    with pytest.raises(ConfigError, match="must look like http://host:3000"):
        Grafana("localhost:3000", TOKEN)


def test_a_bad_token_is_a_clear_error_and_nothing_is_written(grafana_server: Server) -> None:
    fake, url = grafana_server
    bad_token = r"refused the token \(HTTP 401: Invalid API key\); check --token"
    with pytest.raises(GrafanaAuthError, match=bad_token):
        _push(url, token="glsa_wrong")
    assert [r.method for r in fake.requests] == ["GET", "GET"]
    assert fake.requests[1].authorization == "Bearer glsa_wrong"


def test_a_missing_token_is_named_as_such(grafana_server: Server) -> None:
    _, url = grafana_server
    missing = r"wants credentials \(HTTP 401\); pass --token or set GRAFANA_TOKEN"
    with pytest.raises(GrafanaAuthError, match=missing):
        _push(url, token="")


def test_user_and_password_in_the_url_are_used_but_never_shown(grafana_server: Server) -> None:
    fake, url = grafana_server
    with_password = url.replace("http://", "http://admin:s3cret@")
    with pytest.raises(GrafanaAuthError) as caught:
        _push(with_password, token="")
    assert fake.requests[1].authorization == "Basic YWRtaW46czNjcmV0"  # admin:s3cret
    assert "s3cret" not in str(caught.value)
    refused = f"Grafana at {url}/ refused the user and password in the URL (HTTP 401"
    assert str(caught.value).startswith(refused)


def test_a_token_without_editor_rights_is_a_clear_error(grafana_server: Server) -> None:
    fake, url = grafana_server
    fake.viewer_tokens = ("glsa_viewer",)
    forbidden = r"^the token may not change folder 'parkwatch' in Grafana .*HTTP 403.*the Editor role$"
    with pytest.raises(GrafanaAuthError, match=forbidden):
        _push(url, token="glsa_viewer")


def test_a_dashboard_grafana_refuses_is_named_and_the_others_still_go(
    grafana_server: Server,
) -> None:
    fake, url = grafana_server
    fake.refuse["parkwatch-alerts"] = (400, {"message": "Dashboard title cannot be empty", "status": "bad"})

    results = {r.uid: r for r in _push(url)}

    refused = results["parkwatch-alerts"]
    assert refused.outcome == "refused"
    assert refused.detail == (
        "Grafana refused dashboard 'parkwatch-alerts' (HTTP 400): Dashboard title cannot be empty (bad)"
    )
    assert {r.outcome for uid, r in results.items() if uid != "parkwatch-alerts"} == {"created"}


def test_a_title_taken_by_another_dashboard_is_a_412_naming_ours(grafana_server: Server) -> None:
    fake, url = grafana_server
    fake.folders["parkwatch"] = {"uid": "parkwatch", "title": "parkwatch"}
    fake.put({"uid": "hand-made", "title": "Alerts", "panels": []}, "parkwatch")

    results = {r.uid: r for r in _push(url)}

    assert results["parkwatch-alerts"].outcome == "refused"
    assert results["parkwatch-alerts"].detail == (
        "Grafana refused dashboard 'parkwatch-alerts' (HTTP 412): "
        "A dashboard with the same name in the folder already exists (name-exists)"
    )


def test_cli_push_reports_each_dashboard_and_fails_on_refusals(grafana_server: Server) -> None:
    fake, url = grafana_server
    runner = CliRunner()

    first = runner.invoke(dashboards, ["push", "--url", url, "--token", TOKEN])
    assert first.exit_code == 0, first.output
    assert [line.split()[:3] for line in first.output.splitlines()] == [
        [uid, "created", "v1"] for uid in render_all()
    ]

    second = runner.invoke(dashboards, ["push", "--url", url], env={"GRAFANA_TOKEN": TOKEN})
    assert second.exit_code == 0, second.output
    assert all(line.split()[1:3] == ["unchanged", "v1"] for line in second.output.splitlines())

    fake.stored.pop("parkwatch-pipeline")
    fake.refuse["parkwatch-pipeline"] = (400, {"message": "invalid panel"})
    third = runner.invoke(dashboards, ["push", "--url", url, "--token", TOKEN])
    assert isinstance(third.exception, DashboardError)
    assert str(third.exception) == "Grafana refused 1 of 4 dashboards: parkwatch-pipeline"
    refused_line = "parkwatch-pipeline     refused   -     Grafana refused dashboard 'parkwatch-pipeline'"
    assert refused_line in third.output


def test_parkwatch_command_prints_one_line_and_exits_2_on_a_bad_token(
    grafana_server: Server,
) -> None:
    _, url = grafana_server
    env = {**os.environ, "GRAFANA_TOKEN": "glsa_wrong"}
    done = subprocess.run(
        [sys.executable, "-m", "parkwatch", "dashboards", "push", "--url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"parkwatch: Grafana at {url}/ refused the token (HTTP 401: Invalid API key); "
        "check --token (a service-account token with the Editor role)"
    )
