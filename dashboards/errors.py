"""Errors of the dashboards package, under the project's :class:`~parkwatch.errors.ParkwatchError`.

    ParkwatchError
     └── DashboardError
          ├── InvalidDashboardError   a built dashboard fails the schema or the lint
          └── GrafanaError            talking to Grafana failed
               ├── GrafanaUnreachable     nothing answers at the URL, or it is not Grafana
               ├── GrafanaAuthError       401/403: the token is wrong or lacks the rights
               └── GrafanaRefused         Grafana answered 4xx/5xx to one dashboard or folder

grafana-client and niquests exceptions are translated in :mod:`dashboards.push`
with ``raise ... from exc``; ``parkwatch`` prints the message on one line and
exits 2.
"""

from __future__ import annotations

from parkwatch.errors import ParkwatchError

__all__ = [
    "DashboardError",
    "InvalidDashboardError",
    "GrafanaError",
    "GrafanaUnreachable",
    "GrafanaAuthError",
    "GrafanaRefused",
]


class DashboardError(ParkwatchError):
    """Base of the dashboards package's errors."""


class InvalidDashboardError(DashboardError):
    """A dashboard failed validation; ``problems`` lists each with its JSON path."""

    def __init__(self, uid: str, problems: list[str]) -> None:
        listed = "\n  ".join(problems)
        super().__init__(f"dashboard {uid!r} is invalid:\n  {listed}")
        self.uid = uid
        self.problems = problems


class GrafanaError(DashboardError):
    """Grafana could not be used."""


class GrafanaUnreachable(GrafanaError):
    """No Grafana API at the URL: refused, timed out, or something else answered."""


class GrafanaAuthError(GrafanaError):
    """Grafana refused the token (401) or its rights (403)."""


class GrafanaRefused(GrafanaError):
    """Grafana refused one object; the message names it and quotes Grafana."""

    def __init__(self, what: str, status: int, message: str) -> None:
        super().__init__(f"Grafana refused {what} (HTTP {status}): {message}")
        self.what = what
        self.status = status
        self.grafana_message = message
