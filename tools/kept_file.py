"""A file kept in DATA_DIR between starts under a key: a ZIP archive whose `key.txt` member
names what it was made from (`tools.account_index_file`, `tools.accounts_read_file`).

`read_kept` reads such a file back only under the caller's key: none there, or another key's,
reads as None, and so does a file that cannot be read (one warning log line naming it), for
the caller to make it again. `writing_kept` writes one whole: the key first, then the members
the caller adds, to a temporary file beside it renamed into place once complete, so a reader
never sees half a file.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from domain.bulk import collector_paused

KEY_MEMBER = "key.txt"
# What reading a file that is not what its name says raises, from zipfile, json and NumPy.
UNREADABLE = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)

T = TypeVar("T")


def read_kept(
    path: Path,
    key: str,
    read: Callable[[zipfile.ZipFile], T],
    *,
    log: Any,
    unreadable: str,
    changed: str | None = None,
) -> T | None:
    """What `read` gives from the archive kept at `path` under `key`, the cyclic collector
    paused; None when there is no file, or one under another key (logged as `changed`, when
    given). `read` raises one of `UNREADABLE` on members that are not what it expects: the
    file is then logged (`unreadable`, with its path and the error) and read as none."""
    if not path.is_file():
        return None
    try:
        with collector_paused(), zipfile.ZipFile(path) as archive:
            if archive.read(KEY_MEMBER).decode() != key:
                if changed is not None:
                    log.info(changed)
                return None
            return read(archive)
    except UNREADABLE as exc:
        log.warning(unreadable, path=str(path), error=f"{type(exc).__name__}: {exc}"[:300])
        return None


@contextmanager
def writing_kept(path: Path, key: str) -> Iterator[zipfile.ZipFile]:
    """The archive to write to `path` under `key` (stored, not compressed), its key member
    written first: written to `.{name}.{pid}.tmp` beside `path` and renamed into place when
    the block ends without raising; the temporary file is removed either way."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(KEY_MEMBER, key)
            yield archive
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
