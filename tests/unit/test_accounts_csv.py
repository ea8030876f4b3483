"""ACCOUNTS_CSV as CRM exports really are: a bad row costs that row (or that value), not the
service; header mistakes and the strict option still stop at the first problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.matching import AccountIndex
from tools.crm_builtin import BuiltinCRM
from tools.directory import InMemoryDirectory, read_accounts_csv

HEADER = "account_id,name,domain,website,owner_email,employees,country"
GOOD = "A-1,Acme Robotics,acme.com,,ana@example.com,1200,US"


def _write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_unusable_website_drops_the_value_and_keeps_the_account(tmp_path: Path) -> None:
    """`https://www.htp` is a warning at its line; the account still matches by its name."""
    path = _write(tmp_path, GOOD, "A-2,Hollow Tree Partners,,https://www.htp,,40,US")

    report = read_accounts_csv(path)

    assert [row["account_id"] for row in report.rows] == ["A-1", "A-2"]
    assert report.rows[1]["website"] is None
    assert [(w.line, w.kind) for w in report.warnings] == [(3, "bad_website")]
    assert str(report.warnings[0]) == (
        f"{path}:3: website 'https://www.htp' has no registrable domain"
    )
    match = AccountIndex(report.rows).match(company_name="Hollow Tree Partners")
    assert match is not None and match.account_id == "A-2"


def test_account_without_domain_or_website_matches_by_name(tmp_path: Path) -> None:
    """A row with a name and no domain is loaded with a warning and found by its name."""
    path = _write(tmp_path, GOOD, "ACC-00313,Brightwater Analytics,,,ben@example.com,,GB")

    report = read_accounts_csv(path)

    assert [(w.line, w.kind) for w in report.warnings] == [(3, "no_domain")]
    assert "has neither domain nor website" in report.warnings[0].message
    directory = InMemoryDirectory(report.rows)
    assert directory.by_id("ACC-00313") is not None
    match = AccountIndex(report.rows).match(company_name="Brightwater Analytics")
    assert match is not None and match.owner_email == "ben@example.com"


def test_unusable_employees_becomes_none_with_a_warning(tmp_path: Path) -> None:
    """`employees` = `lots` leaves the count unknown and says so at the row's line."""
    path = _write(tmp_path, "A-1,Acme Robotics,acme.com,,,lots,US")

    report = read_accounts_csv(path)

    assert report.rows[0]["employees"] is None
    assert [(w.line, w.kind) for w in report.warnings] == [(2, "bad_employees")]
    assert report.warnings[0].message == "employees must be a whole number, got 'lots'"


def test_rows_that_cannot_be_used_are_skipped_with_their_lines(tmp_path: Path) -> None:
    """No account_id, no name and no usable domain, a repeated id or extra cells: skipped."""
    path = _write(
        tmp_path,
        GOOD,
        ",Nameless Co,nameless.com,,,,US",
        "A-3,,,https://www.htp,,,US",
        "A-1,Acme Again,acme-again.com,,,,US",
        "A-4,Overflow Inc,overflow.com,,,10,US,extra",
        "A-5,Fine Corp,fine.com,,,10,US",
    )

    report = read_accounts_csv(path)

    assert [row["account_id"] for row in report.rows] == ["A-1", "A-5"]
    assert [(s.line, s.kind) for s in report.skipped] == [
        (3, "no_account_id"),
        (4, "no_name_or_domain"),
        (5, "duplicate_account_id"),
        (6, "too_many_cells"),
    ]
    assert report.skipped[2].message == "duplicate account_id 'A-1' (first on line 2)"
    assert report.warnings == []


def test_summary_counts_by_kind_and_lists_the_first_problems(tmp_path: Path) -> None:
    """The summary has the counts, the kinds and the first problems with file:line."""
    path = _write(
        tmp_path,
        GOOD,
        "A-2,Beta,,https://www.htp,,lots,US",
        "A-3,Gamma,,,,,US",
        "A-1,Acme Again,acme-again.com,,,,US",
    )

    summary = read_accounts_csv(path).summary(first=2)

    assert summary == {
        "path": str(path),
        "loaded": 3,
        "skipped": 1,
        "warnings": 3,
        "skipped_by_kind": {"duplicate_account_id": 1},
        "warnings_by_kind": {"bad_employees": 1, "bad_website": 1, "no_domain": 1},
        "first": [
            f"{path}:5: skipped: duplicate account_id 'A-1' (first on line 2)",
            f"{path}:3: website 'https://www.htp' has no registrable domain",
        ],
    }


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("A-2,Beta,,https://www.htp,,,US", "website 'https://www.htp' has no registrable"),
        ("A-2,Beta,,,,,US", "account 'A-2' has neither domain nor website"),
        ("A-1,Acme Again,acme-again.com,,,,US", "duplicate account_id 'A-1'"),
    ],
)
def test_strict_stops_at_the_first_problem(tmp_path: Path, row: str, problem: str) -> None:
    """With strict, the first skipped row or warning raises with the file and line."""
    path = _write(tmp_path, GOOD, row, "A-9,Other,other.com,,,lots,US")

    with pytest.raises(ValueError, match=problem) as caught:
        read_accounts_csv(path, strict=True)
    assert str(caught.value).startswith(f"{path}:3: ")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty file"),
        ("name,domain\nAcme,acme.com\n", "no account_id column"),
        ("account_id,name\nA-1,Acme\n", "needs a domain or website column"),
        ("account_id,domain,Domain\nA-1,a.com,b.com\n", "duplicate columns domain"),
    ],
)
def test_header_problems_stay_fatal(tmp_path: Path, text: str, problem: str) -> None:
    """A header that cannot be read stops the load, tolerant or not."""
    path = tmp_path / "accounts.csv"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError, match=problem) as caught:
        read_accounts_csv(path)
    assert str(caught.value).startswith(f"{path}:1: ")


async def test_builtin_crm_seeds_accounts_without_a_domain(tmp_path: Path) -> None:
    """Accounts loaded without a domain are seeded as companies without one."""
    path = _write(
        tmp_path, GOOD, "A-2,Beta,,https://www.htp,,,US", "A-3,Gamma,,,carla@example.com,,GB"
    )
    rows = read_accounts_csv(path).rows

    async with BuiltinCRM(tmp_path / "crm.sqlite3") as crm:
        assert await crm.seed_accounts(rows) == 3
        assert (await crm.counts())["companies"] == 3
        acme = await crm.find_company_by_domain("acme.com")
    assert acme is not None and acme["id"] == "A-1"
