"""A whole local park as processes: simulator, edge agents, bridge, Faust worker and API.

The demo and the end-to-end tests both drive the pipeline through this one
supervisor, so what the tests check is what the demo shows. Each component
runs as its own ``parkwatch`` subprocess (exactly as an operator would start
it), logs to ``<workdir>/<name>.log`` and inherits the ``PARKWATCH_*``
environment, so all of them talk to the same stack.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx

from parkwatch.component import Component
from parkwatch.errors import ParkwatchError
from parkwatch.influxql import scalar
from parkwatch.settings import Settings

__all__ = ["LocalPark"]

_SENT_LINE = re.compile(r"readings_sent=(\d+)")


class LocalPark:
    """Start, watch and stop the park's components against one stack."""

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        gateway_configs: list[Path],
        injections: list[str] = [],  # noqa: B006 - never mutated
        seed: int = 1,
    ) -> None:
        self.settings = settings
        self.workdir = workdir
        self.gateway_configs = gateway_configs
        workdir.mkdir(parents=True, exist_ok=True)
        self.truth_log = workdir / "ground_truth.jsonl"
        sim_args = ["simulate", "--seed", str(seed), "--truth-log", str(self.truth_log)]
        for cfg in gateway_configs:
            sim_args += ["--gateway-config", str(cfg)]
        for spec in injections:
            sim_args += ["--inject", spec]
        self.backend = [
            self._component("api", ["api"]),
            self._component("worker", ["processor", "worker"]),
            self._component("bridge", ["bridge"]),
        ]
        self.simulator = self._component("simulator", sim_args)
        self.edges = [
            self._component(f"edge-{cfg.stem}", ["edge", "run", "--config", str(cfg)])
            for cfg in gateway_configs
        ]

    def _component(self, name: str, args: list[str]) -> Component:
        return Component(name, args, self.workdir / f"{name}.log")

    @property
    def components(self) -> list[Component]:
        return [*self.backend, self.simulator, *self.edges]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PARKWATCH_STATE_DIR"] = str(self.settings.state_dir.resolve())
        # A local park has no users yet: the API serves read-only, sensitive values masked.
        env.setdefault("PARKWATCH_API_AUTH", "off")
        # The API's store belongs to this run, like the memory-only broker's topics it follows.
        env.setdefault("PARKWATCH_API_DB_URL", f"sqlite:///{(self.workdir / 'api.sqlite').resolve()}")
        return env

    def start(self, timeout_s: float = 60.0) -> None:
        """Backend first (API healthy), then simulator and edge agents."""
        env = self._env()
        for comp in self.backend:
            comp.start(env, own_session=True)
        self._wait_api(timeout_s)
        self.simulator.start(env, own_session=True)
        time.sleep(1.0)  # the Modbus servers listen before the first poll
        for comp in self.edges:
            comp.start(env, own_session=True)

    def apply_rules(self, path: Path) -> list[str]:
        """Apply a rules file through the API as this run's own admin; returns one line per rule.

        The run's API store is its own (see ``_env``), so the park creates an admin
        ``local-park`` and a token in it first, as an operator would with
        ``parkwatch api users add`` and ``parkwatch api tokens create``.
        """
        from cloud_api.rules_file import apply_rules, load_rules_file

        entries = load_rules_file(path)
        with self._admin_api() as api:
            return [f"{a.rule_id} {a.action} v{a.version}" for a in apply_rules(api, entries)]

    def remove_rules(self, path: Path) -> list[str]:
        """Delete the rules of a file through the API (the rules topic outlives this run's API store:
        a shared broker's workers would go on applying them); returns the ids deleted."""
        from cloud_api.rules_file import delete_rules, load_rules_file

        with self._admin_api() as api:
            return delete_rules(api, load_rules_file(path))

    def _admin_api(self) -> httpx.Client:
        """An API client holding a fresh token of this run's admin ``local-park``."""
        from cloud_api.accounts import AccountStore
        from cloud_api.db import Database, normalise_url

        db = Database(normalise_url(self._env()["PARKWATCH_API_DB_URL"], self.settings.state_dir))
        db.open()
        try:
            store = AccountStore(db)
            now = int(time.time() * 1000)
            if "local-park" not in {name for name, *_ in store.list_users()}:
                store.add_user("local-park", "admin", [], now)
            token = store.create_token("local-park", now, now + 86_400_000, "rules of a local park run").text
        finally:
            db.close()
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.settings.api_url, headers=headers, timeout=15.0)

    def _wait_api(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if httpx.get(f"{self.settings.api_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise ParkwatchError(f"API not healthy after {timeout_s:.0f}s:\n{self.backend[0].log_tail()}")

    def check_alive(self) -> None:
        """Raise with the log tail if a started component died."""
        for comp in self.components:
            if comp.proc is not None and not comp.alive and comp.proc.returncode != 0:
                raise ParkwatchError(
                    f"{comp.name} exited with {comp.proc.returncode}; log {comp.log_path}:\n{comp.log_tail()}"
                )

    def stop_field(self) -> int:
        """Stop edge agents (they flush and wait for acks) and the simulator.

        Returns the readings the agents had acknowledged by the broker: what was sent.
        """
        sent = 0
        for comp in self.edges:
            code = comp.stop()
            matches = _SENT_LINE.findall(comp.log_tail(100_000))
            if code != 0 or not matches:
                raise ParkwatchError(f"{comp.name} did not stop cleanly ({code}):\n{comp.log_tail()}")
            sent += int(matches[-1])
        self.simulator.stop()
        return sent

    def readings_stored(self, since_ms: int) -> int:
        """Readings in InfluxDB with event time since ``since_ms``."""
        return int(scalar(self.settings, f"SELECT count(quality) FROM reading WHERE time >= {since_ms}ms"))

    def wait_stored(self, expected: int, since_ms: int, timeout_s: float = 60.0) -> int:
        """Wait until ``expected`` readings are stored (or the time is up); returns the count."""
        deadline = time.monotonic() + timeout_s
        stored = self.readings_stored(since_ms)
        while stored < expected and time.monotonic() < deadline:
            time.sleep(0.5)
            stored = self.readings_stored(since_ms)
        return stored

    def alerts(self, since_ms: int) -> list[dict[str, object]]:
        """Alerts the API lists that started since ``since_ms`` (every page)."""
        items: list[dict[str, object]] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"since_ms": since_ms, "limit": 500}
            if cursor:
                params["cursor"] = cursor
            resp = httpx.get(f"{self.settings.api_url}/api/v1/alerts", params=params, timeout=5.0)
            resp.raise_for_status()
            body = resp.json()
            items.extend(body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                return items

    def stop(self) -> None:
        """Stop everything still running, field first, backend last."""
        for comp in reversed(self.components):
            comp.stop()
