"""A queue worker whose store never answers a read of a lead, and will not be cancelled.

`python -m tests.fakes.stuck_worker` runs the same worker as `python cli.py worker`, from the
same environment settings, with one difference injected through the wiring seam
(`Overrides.wrap_store`): `get_lead` waits forever and swallows every cancellation, as a
call stuck on a backend that never answers can. A lead queued to it holds its shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any, cast

from cli import _worker
from service.wiring import Overrides
from tools.ports import Store


class NeverAnswers:
    """A `Store` that delegates everything but `get_lead`, which never returns."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def get_lead(self, lead_id: str) -> Any:
        print(f"stuck_worker: reading {lead_id}, for ever", flush=True)
        while True:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)


def main() -> int:
    overrides = Overrides(wrap_store=lambda store: cast(Store, NeverAnswers(store)))
    return asyncio.run(_worker(None, overrides))


if __name__ == "__main__":
    sys.exit(main())
