"""The built account index (`domain.matching.AccountIndex`) kept in DATA_DIR between starts.

Building the index normalizes every account's name and domains and lays out its one-edit
indexes: seconds for 100,000 accounts. `open_index` builds it once and writes what
`AccountIndex.saved_columns` and `saved_arrays` give to one file: a ZIP archive of JSON
columns and NumPy `.npy` arrays, never pickled objects (`allow_pickle=False`), under a key
digesting the account rows, the matching settings, `INDEX_FORMAT` and the source of the
modules that build the index. A start with the same key reads the file instead of building;
another key (accounts or code changed) rebuilds and replaces the file, written whole and
renamed into place. A file that cannot be read as such an index is ignored with one log
line and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from domain.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD, INDEX_FORMAT, AccountIndex
from tools.directory import code_digest, rows_digest
from tools.kept_file import read_kept, writing_kept

log = structlog.get_logger("lead_router.account_index")

INDEX_FILE = "account_index.zip"
# The modules whose code decides what an index holds: a change to any rebuilds it.
BUILT_BY = ("domain.matching", "domain.normalize", "domain.regions", "domain.accounts")
_COLUMNS, _ARRAYS = "columns/", "arrays/"


def index_key(
    rows: Sequence[Mapping[str, Any]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    margin: float = DEFAULT_MARGIN,
    digest: str | None = None,
) -> str:
    """The key of the index of these account rows (`digest`: their `rows_digest`, when the
    caller has it), built by this code with these settings."""
    code = code_digest(str(INDEX_FORMAT), BUILT_BY)
    text = f"{code} {threshold!r} {margin!r} {digest or rows_digest(rows)}"
    return hashlib.sha256(text.encode()).hexdigest()


def load_index(
    path: Path,
    key: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    margin: float = DEFAULT_MARGIN,
) -> AccountIndex | None:
    """The index of `rows` saved at `path` under `key` (`index_key(rows)`); None when there
    is none, or another key's. A file that is not such an index is logged and read as none."""
    return read_kept(
        path,
        key,
        lambda archive: _read(archive, rows, threshold=threshold, margin=margin),
        log=log,
        unreadable="account index file unreadable; building the index again",
        changed="accounts or matching changed; building the account index again",
    )


def _read(
    archive: zipfile.ZipFile,
    rows: Sequence[Mapping[str, Any]],
    *,
    threshold: float,
    margin: float,
) -> AccountIndex:
    """The index of `rows` saved in `archive`; raises on members that are not such an index's."""
    columns: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name in archive.namelist():
        if name.startswith(_COLUMNS):
            columns[name.removeprefix(_COLUMNS)] = json.loads(archive.read(name))
        elif name.startswith(_ARRAYS):
            with archive.open(name) as member:
                array = np.lib.format.read_array(member, allow_pickle=False)
            arrays[name.removeprefix(_ARRAYS)] = array
    return AccountIndex.from_saved(rows, columns, arrays, threshold=threshold, margin=margin)


def save_index(path: Path, key: str, index: AccountIndex) -> None:
    """Write `index` to `path` under `key`: to a temporary file, then renamed into place.
    Columns are written one at a time, so that the file never sits whole in memory."""
    with writing_kept(path, key) as archive:
        for name, column in index.saved_columns():
            text = json.dumps(column, ensure_ascii=False, separators=(",", ":"))
            archive.writestr(_COLUMNS + name, text)
        for name, array in index.saved_arrays().items():
            with archive.open(_ARRAYS + name, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def open_index(
    rows: Sequence[Mapping[str, Any]],
    path: Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    margin: float = DEFAULT_MARGIN,
    digest: str | None = None,
) -> AccountIndex:
    """The index of `rows` (as `read_accounts_csv` gives them: domains already registrable):
    read from `path` when saved there for the same rows, code and settings, else built and
    saved there (a failed write is logged, the index still used). `digest`: the rows'
    `rows_digest`, when the caller has it."""
    key = index_key(rows, threshold=threshold, margin=margin, digest=digest)
    index = load_index(path, key, rows, threshold=threshold, margin=margin)
    if index is not None:
        return index
    index = AccountIndex(rows, threshold=threshold, margin=margin, domains_normalized=True)
    try:
        save_index(path, key, index)
    except OSError as exc:
        log.warning("account index not saved", path=str(path), error=str(exc))
    return index
