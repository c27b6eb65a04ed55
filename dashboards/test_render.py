"""The checked-in JSON is what the builders produce, and ``build`` writes exactly that."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboards.boards import BOARDS
from dashboards.cli import dashboards
from dashboards.errors import InvalidDashboardError
from dashboards.panels import stat_panel
from dashboards.render import JSON_DIR, dumps, render, render_all
from dashboards.target import InfluxQL


def test_checked_in_json_equals_a_fresh_build() -> None:
    """If this fails, run `parkwatch dashboards build` and commit dashboards/json/."""
    built = render_all()
    assert sorted(p.name for p in JSON_DIR.glob("*.json")) == sorted(f"{uid}.json" for uid in built)
    for uid, doc in built.items():
        assert (JSON_DIR / f"{uid}.json").read_text(encoding="utf-8") == dumps(doc), f"{uid}.json is stale"


def test_build_writes_every_board_into_the_given_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(dashboards, ["build", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = sorted(Path(line) for line in result.output.splitlines())
    assert written == sorted(tmp_path / "out" / f"{uid}.json" for uid in BOARDS)
    for path in written:
        assert path.read_text(encoding="utf-8") == (JSON_DIR / path.name).read_text(encoding="utf-8")


def test_panels_are_numbered_in_layout_order() -> None:
    for doc in render_all().values():
        assert [p["id"] for p in doc["panels"]] == list(range(1, len(doc["panels"]) + 1))
        assert "id" not in doc and "version" not in doc


def test_an_invalid_board_is_refused_with_every_problem() -> None:
    unbounded = InfluxQL("A", 'SELECT count("quality") FROM "reading" GROUP BY time(1m)')
    board = BOARDS["parkwatch-overview"]().with_panel(stat_panel("Broken", unbounded, description=""))
    with pytest.raises(InvalidDashboardError) as caught:
        render(board)
    assert caught.value.uid == "parkwatch-overview"
    assert caught.value.problems == [
        "panels[18].targets[0].query: a SELECT must be bounded by $timeFilter",
        "panels[18].targets[0].query: GROUP BY time(1m); use time($__interval) so it follows the range",
    ]
