"""What reading an accounts file gave (`read_accounts_csv`), kept in DATA_DIR between starts.

Reading 100,000 account rows checks each one and normalizes its domains: seconds, on every
start. `read_accounts_kept` reads the file once and writes its `AccountsReport` (the rows
loaded, the rows skipped and the warnings) to one file beside the account index: a ZIP
archive of JSON columns, never pickled objects, under a key digesting the file's bytes, its
path and the source of the modules that read it. A start on the same file reads the report
back instead of parsing the file again, with the same rows (equal values, shared values kept
once as the reader keeps them) and the same problems. A file that cannot be read as such a
report is ignored with one log line and the accounts file is parsed again.

`strict` reads of a file with a problem are not kept: they raise, as `read_accounts_csv` does.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import structlog

from domain.bulk import keep_built
from tools.directory import (
    ACCOUNT_COLUMNS,
    AccountsReport,
    RowProblem,
    code_digest,
    read_accounts_csv,
)
from tools.kept_file import read_kept, writing_kept

log = structlog.get_logger("lead_router.accounts_read")

# The modules whose code decides what reading a file gives: a change to any reads it again.
READ_BY = ("tools.directory", "domain.normalize", "domain.accounts")
READ_FORMAT = 1
_ROWS, _PROBLEMS = "rows/", "problems.json"
_COLUMNS = (*ACCOUNT_COLUMNS, "properties")
# Columns whose values many accounts share: kept once (sys.intern), as the reader keeps them.
_SHARED = ("owner_email", "industry", "country", "state", "city")


def kept_path(data_dir: Path, path: Path) -> Path:
    """Where the report of the accounts file at `path` is kept in `data_dir`."""
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return data_dir / f"accounts_read.{name}.zip"


def _file_key(path: Path) -> str:
    with path.open("rb") as handle:
        content = hashlib.file_digest(handle, "sha256").hexdigest()
    code = code_digest(str(READ_FORMAT), READ_BY)
    return hashlib.sha256(f"{code} {path} {content}".encode()).hexdigest()


def read_accounts_kept(path: Path, data_dir: Path, *, strict: bool = False) -> AccountsReport:
    """`read_accounts_csv(path, strict=strict)`, read back from `data_dir` when the same file
    was read there before by the same code, else read and kept there (a failed write is
    logged); the report's `digest` is the key it is kept under. Raises as `read_accounts_csv`
    does on a header problem or, with `strict`, the first row skipped or warned about."""
    report, keep = read_accounts_to_keep(path, data_dir, strict=strict)
    if keep is not None:
        keep()
    return report


def read_accounts_to_keep(
    path: Path, data_dir: Path, *, strict: bool = False
) -> tuple[AccountsReport, Callable[[], None] | None]:
    """`read_accounts_kept` without writing the report: it and, when it was read from the
    accounts file rather than from `data_dir`, the call that keeps it there (for the caller
    to make now or in a child, `tools.aside`)."""
    kept = kept_path(data_dir, path)
    try:
        key = _file_key(path)
    except OSError:
        return read_accounts_csv(path, strict=strict), None  # raises as the reader does
    report = _load(kept, key, path)
    if report is not None and not (strict and (report.skipped or report.warnings)):
        return report, None
    report = dataclasses.replace(read_accounts_csv(path, strict=strict), digest=key)
    return report, functools.partial(_keep, kept, key, report)


def _keep(kept: Path, key: str, report: AccountsReport) -> None:
    try:
        _save(kept, key, report)
    except OSError as exc:
        log.warning("accounts read not kept", path=str(kept), error=str(exc))


def _load(kept: Path, key: str, path: Path) -> AccountsReport | None:
    return read_kept(
        kept,
        key,
        lambda archive: _read(archive, key, path),
        log=log,
        unreadable="accounts read file unreadable; reading the accounts again",
    )


def _read(archive: zipfile.ZipFile, key: str, path: Path) -> AccountsReport:
    """The report of the accounts file at `path` kept in `archive` under `key`; raises on
    members that are not such a report's."""
    columns = [json.loads(archive.read(_ROWS + name)) for name in _COLUMNS]
    problems = json.loads(archive.read(_PROBLEMS))
    count = len(columns[0])
    if any(len(column) != count for column in columns):
        raise ValueError("columns of different lengths")
    for name in _SHARED:
        column = columns[_COLUMNS.index(name)]
        column[:] = [None if value is None else sys.intern(value) for value in column]
    domains, websites = columns[_COLUMNS.index("domain")], columns[_COLUMNS.index("website")]
    websites[:] = [
        domain if website == domain else website
        for domain, website in zip(domains, websites, strict=True)
    ]
    rows = [dict(zip(_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)]
    del columns
    keep_built(len(rows))  # read inside `read_kept`'s pause
    return AccountsReport(
        path,
        rows,
        skipped=[RowProblem(path, *problem) for problem in problems["skipped"]],
        warnings=[RowProblem(path, *problem) for problem in problems["warnings"]],
        digest=key,
    )


def _save(kept: Path, key: str, report: AccountsReport) -> None:
    """Write `report` to `kept` under `key`: to a temporary file, then renamed into place."""
    with writing_kept(kept, key) as archive:
        for name in _COLUMNS:
            column = [row[name] for row in report.rows]
            archive.writestr(
                _ROWS + name, json.dumps(column, ensure_ascii=False, separators=(",", ":"))
            )
        problems = {
            "skipped": [[p.line, p.kind, p.message] for p in report.skipped],
            "warnings": [[p.line, p.kind, p.message] for p in report.warnings],
        }
        archive.writestr(_PROBLEMS, json.dumps(problems))
