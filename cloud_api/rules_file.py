"""Rules kept as a file (reviewed like code) and applied through the API: ``parkwatch rules apply``.

The file is YAML ``rules: [{id, name, severity, scope, condition, enabled}]``
(fields of :class:`~parkwatch.wire.rules.RuleSpec` plus ``id``), validated
whole before anything is sent, so a bad file changes nothing. Applying goes
through the API, never straight to Kafka, so every change is versioned,
audited and checked against the caller's role like one made in the console:
a missing rule is created, a different one gets a new version (PUT), an
equal one is left alone. Rules on the server but not in the file are kept
(delete them explicitly).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from parkwatch.errors import ConfigError
from parkwatch.settings import load_settings
from parkwatch.wire.rules import RuleSpec, describe_errors

__all__ = ["RuleFileEntry", "load_rules_file", "apply_rules", "delete_rules", "rules"]


class RuleFileEntry(RuleSpec):
    """One rule in a rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[RuleFileEntry]


def load_rules_file(path: Path) -> list[RuleFileEntry]:
    """Every rule of the file, validated; :class:`ConfigError` naming the rule and field otherwise.

    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "r.yaml"
    >>> _ = bad.write_text("rules: [{id: x, name: X, condition: {type: limit, low: 5, high: 1}}]")
    >>> load_rules_file(bad)
    Traceback (most recent call last):
    ...
    parkwatch.errors.ConfigError: ...r.yaml: rules.0.condition.limit: Value error, low (5.0) must be below ...
    """
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read rules: {exc}") from exc
    try:
        entries = _RulesFile.model_validate(doc).rules
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_errors(exc)}") from exc
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: rule ids must be unique")
    return entries


@dataclass(frozen=True)
class Applied:
    rule_id: str
    action: str  # created, updated, unchanged
    version: int


_SPEC_FIELDS = ("name", "enabled", "severity", "scope", "condition")


def _spec(doc: dict[str, Any]) -> dict[str, Any]:
    return RuleSpec.model_validate(doc).model_dump(mode="json", by_alias=True)


def apply_rules(api: httpx.Client, entries: list[RuleFileEntry]) -> list[Applied]:
    """Make the API's rules equal the entries; raises ``httpx.HTTPStatusError`` on a refusal."""
    done = []
    for entry in entries:
        wanted = entry.model_dump(mode="json", by_alias=True, exclude={"id"})
        resp = api.get(f"/api/v1/rules/{entry.id}")
        if resp.status_code == 404:
            created = api.post("/api/v1/rules", json={"id": entry.id, **wanted})
            created.raise_for_status()
            done.append(Applied(entry.id, "created", created.json()["version"]))
            continue
        resp.raise_for_status()
        current = resp.json()
        if _spec({k: current[k] for k in _SPEC_FIELDS}) == _spec(wanted):
            done.append(Applied(entry.id, "unchanged", current["version"]))
            continue
        updated = api.put(f"/api/v1/rules/{entry.id}", json=wanted)
        updated.raise_for_status()
        done.append(Applied(entry.id, "updated", updated.json()["version"]))
    return done


def delete_rules(api: httpx.Client, entries: list[RuleFileEntry]) -> list[str]:
    """Delete the entries' rules (a tombstone each; their history stays); returns the ids deleted."""
    deleted = []
    for entry in entries:
        resp = api.delete(f"/api/v1/rules/{entry.id}")
        if resp.status_code != 404:
            resp.raise_for_status()
            deleted.append(entry.id)
    return deleted


@click.group()
def rules() -> None:
    """Monitoring rules kept in files, applied through the cloud API."""


@rules.command("apply")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--api", "api_url", default=None, help="API base URL (default: PARKWATCH_API_URL's).")
@click.option("--token", default=None, help="API token with rule rights (default: $PARKWATCH_API_TOKEN).")
def apply_cmd(path: Path, api_url: str | None, token: str | None) -> None:
    """Create or update the rules in PATH; prints one line per rule."""
    entries = load_rules_file(path)
    token = token or os.environ.get("PARKWATCH_API_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=api_url or load_settings().api_url, headers=headers, timeout=15) as api:
        try:
            for applied in apply_rules(api, entries):
                click.echo(f"{applied.rule_id:<24} {applied.action:<10} version {applied.version}")
        except httpx.HTTPStatusError as exc:
            raise click.ClickException(f"{exc.request.method} {exc.request.url}: {exc.response.status_code} "
                                       f"{exc.response.text[:300]}") from exc
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the API: {exc!r}") from exc
