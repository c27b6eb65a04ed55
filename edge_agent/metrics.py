"""The agent's health as Prometheus text exposition on ``http://<host>:<port>/metrics``.

A stdlib ``http.server`` on a daemon thread: the edge box needs no extra
package, and a scrape every 15 s costs nothing. Each scrape calls the
agent's ``collect()`` (thread-safe reads of counters) and renders, e.g.::

    # TYPE parkwatch_edge_poll_seconds gauge
    parkwatch_edge_poll_seconds{device="gas-01"} 0.0042
    # TYPE parkwatch_edge_outbox_records gauge
    parkwatch_edge_outbox_records 0

Publish *rate* is ``rate(parkwatch_edge_frames_acked_total[1m])`` in PromQL;
the agent exports counters, not rates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

__all__ = ["Metric", "MetricsServer", "render"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Metric:
    """One sample: ``name{labels} value``, of a counter or a gauge."""

    name: str
    kind: Literal["counter", "gauge"]
    help: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


def render(metrics: Iterable[Metric]) -> str:
    """Prometheus text format 0.0.4; one ``# HELP``/``# TYPE`` per name.

    >>> print(render([Metric("x_total", "counter", "Things.", 3, {"device": "d1"})]), end="")
    # HELP x_total Things.
    # TYPE x_total counter
    x_total{device="d1"} 3
    """
    # The format wants every sample of a name in one group: gather them, in order of first appearance.
    families: dict[str, list[Metric]] = {}
    for m in metrics:
        families.setdefault(m.name, []).append(m)
    lines: list[str] = []
    for name, samples in families.items():
        lines += [f"# HELP {name} {samples[0].help}", f"# TYPE {name} {samples[0].kind}"]
        for m in samples:
            labels = ",".join(f'{k}="{v}"' for k, v in m.labels.items())
            value = int(m.value) if float(m.value).is_integer() else m.value
            lines.append(f"{name}{{{labels}}} {value}" if labels else f"{name} {value}")
    return "\n".join(lines) + "\n"


class MetricsServer:
    """Serves ``render(collect())`` on ``/metrics`` until :meth:`stop`."""

    def __init__(self, host: str, port: int, collect: Callable[[], Iterable[Metric]]) -> None:
        def handler_factory(*args: object) -> BaseHTTPRequestHandler:
            return _Handler(collect, *args)

        self._server = ThreadingHTTPServer((host, port), handler_factory)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self._server.server_address[0], self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def __init__(self, collect: Callable[[], Iterable[Metric]], *args: object) -> None:
        self._collect = collect
        super().__init__(*args)  # type: ignore[arg-type]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        body = render(self._collect()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return
