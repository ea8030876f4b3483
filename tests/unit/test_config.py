"""routing.yaml and scoring.yaml: the shipped files load; mistakes name the file and line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from domain.config import ConfigError, load_routing, load_scoring

INFRA = Path(__file__).resolve().parents[2] / "infra"
EMEA = "enrichment.company.region: {in: [EMEA]}"


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


# YAML that means something else


def test_norway_is_the_country_code_no(tmp_path: Path) -> None:
    """`NO` (and `ON`, `YES`, `OFF`) in a rule is that text, not a YAML 1.1 boolean."""
    path = _edited(
        tmp_path,
        "routing.yaml",
        EMEA,
        EMEA + "\n      lead.country: {in: [SE, NO, DK, ON, YES, OFF]}",
    )
    rule = next(r for r in load_routing(path).rules if r.id == "emea-enterprise")
    assert rule.when["lead.country"] == {"in": ["SE", "NO", "DK", "ON", "YES", "OFF"]}


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("lead.country: {in: [SE, false]}", "in: false is a boolean; lead.country is text"),
        ("lead.form_id: 2024", "equals: 2024 is a number; lead.form_id is text"),
        ("score.total: {gte: many}", "gte: 'many' is text; gte takes a number"),
        ("score.total: {in: [10, '20']}", "in: '20' is text; score.total is a number"),
        ("lead.free_mail: {equals: 'yes'}", "equals: 'yes' is text; lead.free_mail is true or"),
        ("lead.company: {exists: no}", "exists takes true or false, got 'no'"),
        ("routing.action: {in: [book, suport]}", "in: 'suport' is not one of book, draft"),
    ],
)
def test_condition_value_of_the_wrong_type_names_its_line(
    tmp_path: Path, condition: str, problem: str
) -> None:
    """A condition value that cannot match its field's type fails at the condition's line."""
    path = _edited(tmp_path, "routing.yaml", EMEA, EMEA + "\n      " + condition)
    with pytest.raises(ConfigError) as err:
        load_routing(path)
    field = condition.partition(":")[0]
    assert str(err.value).startswith(
        f"{path}:{_line_of(path, condition)}: rules.3.when.{field}: {problem}"
    ), str(err.value)


def test_condition_on_an_undeclared_path_is_not_type_checked(tmp_path: Path) -> None:
    """Form properties have no declared type, so any value is accepted there."""
    path = _edited(
        tmp_path,
        "routing.yaml",
        EMEA,
        EMEA + "\n      lead.properties.seats: {gte: 10}\n      lead.properties.plan: 3",
    )
    rule = next(r for r in load_routing(path).rules if r.id == "emea-enterprise")
    assert rule.when["lead.properties.plan"] == 3


def test_unquoted_date_is_a_day_out_of_office(tmp_path: Path) -> None:
    """`out_of_office: [2026-12-24]` is that day, as the quoted form is."""
    path = _edited(tmp_path, "routing.yaml", '["2026-12-24..2026-12-31"]', "[2026-12-24]")
    ana = load_routing(path).rep("ana")
    assert ana.out_of_office == ["2026-12-24"]
    assert ana.is_out_of_office(date(2026, 12, 24))


def test_clock_time_is_not_read_as_minutes(tmp_path: Path) -> None:
    """`within_minutes: 1:30` is refused at its line, not read as sexagesimal 90."""
    path = _edited(tmp_path, "scoring.yaml", "within_minutes: 60,", "within_minutes: 1:30,")
    with pytest.raises(ConfigError) as err:
        load_scoring(path)
    assert f"{path}:{_line_of(path, '1:30')}: timing.recency.0.within_minutes:" in str(err.value)


def test_zero_padded_number_is_decimal(tmp_path: Path) -> None:
    """`gte: 0100` is one hundred, not YAML 1.1 octal 64; `1e3` is a number."""
    path = _edited(
        tmp_path, "routing.yaml", "employees: {gte: 1000}", "employees: {gte: 0100, lte: 1e3}"
    )
    rule = next(r for r in load_routing(path).rules if r.id == "emea-enterprise")
    assert rule.when["enrichment.company.employees"] == {"gte": 100, "lte": 1000.0}


def test_a_key_written_twice_names_its_line(tmp_path: Path) -> None:
    """A condition repeated in one rule is refused, not silently replaced by the second."""
    path = _edited(tmp_path, "routing.yaml", EMEA, EMEA + "\n      " + EMEA.replace("EMEA", "NA"))
    with pytest.raises(ConfigError) as err:
        load_routing(path)
    line = _line_of(path, "region: {in: [NA]}")
    assert str(err.value).startswith(f"{path}:{line}: invalid YAML: duplicate key")


def test_learning_capture_columns_are_read(tmp_path: Path) -> None:
    """`learning.capture_columns` lists the columns a lead has when it arrives."""
    path = _edited(
        tmp_path,
        "scoring.yaml",
        "grades:",
        "learning:\n  capture_columns: [Signup Channel, Minutes On Site]\n\ngrades:",
    )
    assert load_scoring(path).learning.capture_columns == ["Signup Channel", "Minutes On Site"]
    assert load_scoring(INFRA / "scoring.yaml").learning.capture_columns is None


def test_capture_column_listed_twice_names_its_line(tmp_path: Path) -> None:
    """A capture column listed twice is refused at the list's line."""
    path = _edited(
        tmp_path,
        "scoring.yaml",
        "grades:",
        "learning:\n  capture_columns: [Signup Channel, Signup Channel]\n\ngrades:",
    )
    with pytest.raises(ConfigError) as err:
        load_scoring(path)
    assert str(err.value).startswith(
        f"{path}:{_line_of(path, '  capture_columns: [Signup')}: learning.capture_columns: "
    )
    assert "'Signup Channel' is listed twice" in str(err.value)


def test_the_reps_own_cal_com_event_type_wins_over_the_teams(tmp_path: Path) -> None:
    """A rep's calcom_event_type_id wins; without one, the routed team's (else their own team's)."""
    path = _edited(
        tmp_path,
        "routing.yaml",
        "    pool: [ana, ben]\n",
        "    pool: [ana, ben]\n    calcom_event_type_id: 701\n",
    )
    path.write_text(
        path.read_text().replace(
            "    weight: 2\n", "    weight: 2\n    calcom_event_type_id: 42\n", 1
        )
    )
    routing = load_routing(path)
    assert routing.rep("ana").calcom_event_type_id == 42
    assert routing.calcom_event_type("ana", "emea-enterprise") == 42
    assert routing.calcom_event_type("ben", "emea-enterprise") == 701
    assert routing.calcom_event_type("ben") == 701
    assert routing.calcom_event_type("dan", "na-enterprise") is None


def test_a_cal_com_event_type_must_be_a_positive_id(tmp_path: Path) -> None:
    """calcom_event_type_id: 0 is refused at its line."""
    path = _edited(
        tmp_path, "routing.yaml", "    weight: 2\n", "    weight: 2\n    calcom_event_type_id: 0\n"
    )
    with pytest.raises(ConfigError) as err:
        load_routing(path)
    assert (
        f"{path}:{_line_of(path, 'calcom_event_type_id: 0')}: reps.0.calcom_event_type_id:"
        in str(err.value)
    )
