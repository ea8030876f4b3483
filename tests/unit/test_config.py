"""routing.yaml and scoring.yaml: the shipped files load; mistakes name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.config import ConfigError, load_routing, load_scoring

INFRA = Path(__file__).resolve().parents[2] / "infra"


def _edited(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (INFRA / name).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_shipped_configs_load() -> None:
    """The routing and scoring files in infra/ are valid."""
    routing = load_routing(INFRA / "routing.yaml")
    scoring = load_scoring(INFRA / "scoring.yaml")
    assert routing.rules[-1].id == "catch-all"
    assert scoring.grade(scoring.grades["A"]) == "A"


def test_unknown_pool_member_names_file_and_line(tmp_path: Path) -> None:
    """A team pool naming an unknown rep fails at that line."""
    path = _edited(tmp_path, "routing.yaml", "pool: [ana, ben]", "pool: [ana, bob]")
    with pytest.raises(ConfigError) as err:
        load_routing(path)
    assert str(err.value) == (
        f"{path}:{_line_of(path, 'pool: [ana, bob]')}: teams.0.pool.1: unknown rep 'bob'"
    )


def test_bad_field_value_names_its_line(tmp_path: Path) -> None:
    """A negative weight is reported at the weight's line."""
    path = _edited(tmp_path, "routing.yaml", "weight: 2", "weight: -2")
    with pytest.raises(ConfigError) as err:
        load_routing(path)
    assert f"{path}:{_line_of(path, 'weight: -2')}: reps.0.weight:" in str(err.value)


def test_unknown_operator_is_rejected(tmp_path: Path) -> None:
    """A condition operator that does not exist is named in the error."""
    path = _edited(tmp_path, "routing.yaml", "{gte: 1000}", "{atleast: 1000}")
    with pytest.raises(ConfigError, match="unknown operator 'atleast'"):
        load_routing(path)


def test_rule_assigning_unknown_team_is_rejected(tmp_path: Path) -> None:
    """A rule that assigns a team that is not defined fails at its assign line."""
    path = _edited(tmp_path, "routing.yaml", "assign: {team: apac}", "assign: {team: apack}")
    with pytest.raises(ConfigError) as err:
        load_routing(path)
    assert f":{_line_of(path, 'apack')}: rules.5.assign: unknown team 'apack'" in str(err.value)


def test_bad_timezone_and_hours_are_rejected(tmp_path: Path) -> None:
    """An unknown timezone or an inverted working-hours range is an error."""
    path = _edited(tmp_path, "routing.yaml", "Europe/Lisbon", "Europe/Atlantis")
    with pytest.raises(ConfigError, match="unknown timezone 'Europe/Atlantis'"):
        load_routing(path)
    path = _edited(tmp_path, "routing.yaml", '"09:00-18:00"', '"18:00-09:00"')
    with pytest.raises(ConfigError, match="not a range within one day"):
        load_routing(path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """Broken YAML syntax is reported with its line."""
    path = tmp_path / "routing.yaml"
    path.write_text("version: 1\nreps:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError, match=r"routing.yaml:\d+: invalid YAML"):
        load_routing(path)


def test_scoring_thresholds_must_be_ordered(tmp_path: Path) -> None:
    """draft_at above book_at is refused."""
    path = _edited(tmp_path, "scoring.yaml", "draft_at: 45", "draft_at: 90")
    with pytest.raises(ConfigError, match="draft_at must not be above book_at"):
        load_scoring(path)


def test_learning_capture_columns_are_read(tmp_path: Path) -> None:
    """`learning.capture_columns` lists the columns a lead has when it arrives."""
    path = _edited(
        tmp_path,
        "scoring.yaml",
        "grades:",
        "learning:\n  capture_columns: [Lead Source, Total Time]\n\ngrades:",
    )
    assert load_scoring(path).learning.capture_columns == ["Lead Source", "Total Time"]
    assert load_scoring(INFRA / "scoring.yaml").learning.capture_columns is None


def test_capture_column_listed_twice_names_its_line(tmp_path: Path) -> None:
    """A capture column listed twice is refused at the list's line."""
    path = _edited(
        tmp_path,
        "scoring.yaml",
        "grades:",
        "learning:\n  capture_columns: [Lead Source, Lead Source]\n\ngrades:",
    )
    with pytest.raises(ConfigError) as err:
        load_scoring(path)
    assert str(err.value).startswith(
        f"{path}:{_line_of(path, '  capture_columns: [Lead')}: learning.capture_columns: "
    )
    assert "'Lead Source' is listed twice" in str(err.value)
