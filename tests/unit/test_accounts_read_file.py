"""Unit tests for an accounts file's read kept between starts (tools/accounts_read_file.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import accounts_read_file
from tools.accounts_read_file import kept_path, read_accounts_kept
from tools.directory import read_accounts_csv, rows_digest

ROWS = [
    "account_id,name,domain,website,owner_email,industry,employees,country,aliases,tier",
    "A-1,Acme Robotics,acme.com,https://www.acme.com,Ana@Example.com,robotics,1200,US,Acme|AR,1",
    "A-2,Hollow Tree Partners,,https://www.htp,,,40,US,,",
    ",No Id,noid.com,,,,,,,",
    "A-1,Acme again,acme2.com,,,,,,,",
    "A-3,Zeta Çelik,zeta.com.tr,,,steel,lots,TR,,gold",
]


def _write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_kept_read_gives_the_same_report(tmp_path: Path) -> None:
    """Rows, skipped rows and warnings read back equal what parsing the file gives."""
    path = _write(tmp_path, *ROWS)
    fresh = read_accounts_csv(path)

    first = read_accounts_kept(path, tmp_path)
    again = read_accounts_kept(path, tmp_path)

    assert kept_path(tmp_path, path).is_file()
    for report in (first, again):
        assert report.rows == fresh.rows
        assert rows_digest(report.rows) == rows_digest(fresh.rows)
        assert report.skipped == fresh.skipped and report.warnings == fresh.warnings
        assert report.summary() == fresh.summary()


def test_an_unchanged_file_is_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second read of the same file comes from DATA_DIR, not from the parser."""
    path = _write(tmp_path, *ROWS)
    read_accounts_kept(path, tmp_path)
    monkeypatch.setattr(accounts_read_file, "read_accounts_csv", None)

    assert [row["account_id"] for row in read_accounts_kept(path, tmp_path).rows] == [
        "A-1",
        "A-2",
        "A-3",
    ]


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    """A changed accounts file gives its new rows, not the kept ones, and another digest."""
    path = _write(tmp_path, *ROWS)
    before = read_accounts_kept(path, tmp_path)
    _write(tmp_path, *ROWS[:2])

    after = read_accounts_kept(path, tmp_path)

    assert [row["account_id"] for row in after.rows] == ["A-1"]
    assert before.digest and after.digest and before.digest != after.digest


def test_strict_still_fails_on_the_first_problem(tmp_path: Path) -> None:
    """A strict read of a file with problems raises at its first, kept read or not."""
    path = _write(tmp_path, *ROWS)
    read_accounts_kept(path, tmp_path)

    with pytest.raises(ValueError, match=r"accounts\.csv:3: website 'https://www.htp'"):
        read_accounts_kept(path, tmp_path, strict=True)


def test_an_unreadable_kept_file_is_read_again(tmp_path: Path) -> None:
    """A kept file that is not a kept read is ignored and the accounts file parsed again."""
    path = _write(tmp_path, *ROWS)
    kept_path(tmp_path, path).write_bytes(b"not a zip")

    assert read_accounts_kept(path, tmp_path).rows == read_accounts_csv(path).rows
    assert read_accounts_kept(path, tmp_path).rows == read_accounts_csv(path).rows
