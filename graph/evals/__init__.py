"""Offline evaluations on the shared third-party data (`python cli.py eval <what>`).

The data is read from `../shared/data` beside the repository (override with the environment
variable `LEAD_ROUTER_EVAL_DATA`) and is never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

DATA_ENV: Final = "LEAD_ROUTER_EVAL_DATA"
REPO_ROOT: Final = Path(__file__).resolve().parents[2]


def default_data_dir() -> Path:
    """`$LEAD_ROUTER_EVAL_DATA`, else `../shared/data` beside the repository."""
    configured = os.environ.get(DATA_ENV)
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
