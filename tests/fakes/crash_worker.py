"""A queue worker that SIGKILLs itself right after storing the receipt of one side effect.

`python -m tests.fakes.crash_worker <effect>` (e.g. `crm.contact`) runs the same worker as
`python cli.py worker`, from the same environment settings, with one difference injected
through the wiring seam (`Overrides.wrap_store`): once the receipt of `<effect>` has been
stored for any lead, the process kills itself with SIGKILL — no cleanup, no lease release, no
acknowledgement — as a crashed machine would leave things.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any, cast

from cli import _worker
from service.wiring import Overrides
from tools.ports import Store


class CrashAfterReceipt:
    """A `Store` that delegates everything and dies right after storing `effect`'s receipt."""

    def __init__(self, store: Store, effect: str) -> None:
        self._store = store
        self._effect = effect

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def put_receipt(
        self, lead_id: str, effect: str, receipt: dict[str, Any]
    ) -> dict[str, Any]:
        stored = await self._store.put_receipt(lead_id, effect, receipt)
        if effect == self._effect:
            print(f"crash_worker: SIGKILL after storing {effect} of {lead_id}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return stored


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.fakes.crash_worker <effect>", file=sys.stderr)
        return 2
    effect = argv[0]
    overrides = Overrides(wrap_store=lambda store: cast(Store, CrashAfterReceipt(store, effect)))
    return asyncio.run(_worker(None, overrides))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
