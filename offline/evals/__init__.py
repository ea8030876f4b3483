"""Offline evaluations on the shared third-party data (`python cli.py eval <what>`).

The data is read from `../shared/data` beside the repository (override with the environment
variable `LEAD_ROUTER_EVAL_DATA`) and is never copied into the repository.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Final

DATA_ENV: Final = "LEAD_ROUTER_EVAL_DATA"
REPO_ROOT: Final = Path(__file__).resolve().parents[2]


def default_data_dir() -> Path:
    """`$LEAD_ROUTER_EVAL_DATA`, else `../shared/data` beside the repository."""
    configured = os.environ.get(DATA_ENV)
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """The `--data DIR` option every evaluation command takes."""
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"data directory (default ${DATA_ENV} or <repo>/../shared/data)",
    )


def data_dir_or_none(command: str, given: Path | None, needed: Iterable[Path | str]) -> Path | None:
    """The data directory (`--data`, else the default) when it holds every needed file; else
    None, after telling stderr what is missing and how to point at the data."""
    data_dir = given or default_data_dir()
    absent = [str(name) for name in needed if not (data_dir / name).is_file()]
    if not absent:
        return data_dir
    print(
        f"{command}: no evaluation data at {data_dir} (missing {', '.join(absent)}); "
        f"pass --data PATH or set {DATA_ENV}",
        file=sys.stderr,
    )
    return None
