"""Unit tests for the account index kept between starts (tools/account_index_file.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from domain.matching import AccountIndex
from offline.bench import synthetic_accounts
from tools.account_index_file import index_key, load_index, open_index, save_index
from tools.directory import read_account_records

NAMED = [
    {"account_id": "1", "name": "Acme Robotics, Inc.", "domain": "acmerobotics.com"},
    {"account_id": "2", "name": "Acme Foods", "domain": "acmefoods.com"},
    {
        "account_id": "3",
        "name": "Northern Ledger Systems",
        "domain": "nls.com",
        "website": "https://www.nls.com/us",
    },
    {
        "account_id": "4",
        "name": "Koninklijke Vandermolen Electronics N.V.",
        "domain": "vandermolen.com",
        "aliases": "N.V. Vandermolen Gloeilampenfabrieken|Vandermolen Electronics North America",
    },
    {
        "account_id": "5",
        "name": "Tarnwell Platforms",
        "domain": "tarnwell.com",
        "aliases": "Brightloom",
    },
    {"account_id": "6", "name": "Hunter Dalgety Industries B.V.", "domain": "hd.nl"},
    {"account_id": "7", "name": "TQMicroelectronics N.V.", "parent_account_id": "4"},
    {"account_id": "8", "name": "Atlas", "domain": "atlas.io", "owner_email": "ana@example.com"},
    {"account_id": "9", "name": "Atlas", "domain": "atlas.de"},
    {"account_id": "10", "name": "Quorvane Pharmaceuticals Inc.", "domain": "quorvane.co.uk"},
]

PROBES: list[dict[str, Any]] = [
    {"company_name": name}
    for name in (
        "Acme Robotics",
        "Acme",
        "Acme Robotcs",
        "NLS",
        "Northern Ledgr Systems",
        "Vandermolen Gloeilampenfabrieken",
        "FANDERMOLEN ELEKTRONIKS",
        "Brightloom, Inc.",
        "HUNTERDALGETYINDSB",
        "MICROELECTRONICS TQ",
        "Atlas",
        "QUORVANE PHARMLS",
        "Nobody Known",
        "",
    )
] + [
    {"email_domain": "jo@nls.com", "company_name": "Acme Foods"},
    {"email_domain": "jo@eu.quorvane.co.uk"},
    {"email_domain": "jo@gmail.com", "website_domain": "https://www.atlas.de/jobs"},
    {"email_domain": "jo@nls.de", "company_name": "NLS"},
    {"email_domain": "jo@usethread.io", "company_name": "Acme Robotics"},
]


def _rows(count: int = 1500) -> list[dict[str, Any]]:
    """Account rows as `read_accounts_csv` gives them: the named ones and generated ones."""
    records = [*NAMED, *synthetic_accounts(count)]
    return read_account_records(records, "accounts").rows


SOUNDS_ALIKE = (("c", "k"), ("k", "c"), ("ph", "f"), ("f", "ph"), ("y", "i"), ("i", "y"))


def _sounding_alike(name: str) -> str:
    """The name with one spelling of a sound swapped for another (`Brackwell` → `Brakkwell`)."""
    for spelt, sounding in SOUNDS_ALIKE:
        if spelt in name[1:]:
            return name[0] + name[1:].replace(spelt, sounding)
    return name


def _answers(index: AccountIndex, rows: list[dict[str, Any]]) -> list[Any]:
    """Every answer the index gives to the probes, and to typos and sound-alike spellings of
    generated names."""
    generated = [row["name"] for row in rows[len(NAMED) :]]
    typos = [name[:3] + name[4:] for name in generated[::37]]
    sounds = [_sounding_alike(name) for name in generated[::7]]
    answers: list[Any] = [index.match(**probe) for probe in PROBES]
    for name in [*(probe.get("company_name", "") for probe in PROBES), *typos, *sounds]:
        answers.append(index.match(company_name=name))
        answers.append(index.candidates(name))
    return answers


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return _rows()


def test_a_saved_index_answers_every_match_alike(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """An index saved and read back gives the same matches and candidates as the one built."""
    built = AccountIndex(rows)
    path = tmp_path / "index.zip"
    save_index(path, "key", built)
    loaded = load_index(path, "key", rows)
    assert loaded is not None
    answers = _answers(built, rows)
    assert any(answer for answer in answers[: len(PROBES)])
    assert _answers(loaded, rows) == answers
    assert len(loaded) == len(built)


def test_a_restart_on_unchanged_accounts_reads_the_saved_index(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The second start with the same accounts reads the file the first wrote, unchanged."""
    path = tmp_path / "index.zip"
    first = open_index(rows, path)
    written = path.stat().st_mtime_ns
    second = open_index(rows, path)
    assert path.stat().st_mtime_ns == written
    assert _answers(second, rows) == _answers(first, rows)


def test_changed_accounts_rebuild_the_index(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    """An account added to the file is matched after a restart, and the file is replaced."""
    path = tmp_path / "index.zip"
    open_index(rows, path)
    added = read_account_records([{"account_id": "new", "name": "Zephyrine Looms"}], "more").rows
    changed = [*rows, *added]
    index = open_index(changed, path)
    found = index.match(company_name="Zephyrine Looms")
    assert found is not None and found.account_id == "new"
    assert load_index(path, index_key(changed), changed) is not None
    assert load_index(path, index_key(rows), rows) is None


@pytest.mark.parametrize("content", [b"not an index", b"PK\x03\x04 cut short", None])
def test_an_unreadable_index_file_is_rebuilt(
    rows: list[dict[str, Any]], tmp_path: Path, content: bytes | None
) -> None:
    """A corrupt or foreign file under the index's name is replaced by a working index."""
    path = tmp_path / "index.zip"
    if content is None:  # a ZIP archive, of something else under the right key
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("key.txt", index_key(rows))
            archive.writestr("columns/name", "[1, 2")
    else:
        path.write_bytes(content)
    index = open_index(rows, path)
    found = index.match(company_name="Acme Robotics")
    assert found is not None and found.account_id == "1"
    assert load_index(path, index_key(rows), rows) is not None
