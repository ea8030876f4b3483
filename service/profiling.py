"""Profiling a running server in a window of one's choosing, without a restart.

`profile_between_signals(path)` makes SIGUSR1 start cProfile on the event loop's thread and
SIGUSR2 stop it and write the statistics to `path` (pstats format, written whole and renamed
into place); the next SIGUSR1 starts again from nothing. `cli.py serve --profile FILE` turns
it on; `cli.py bench --profile ack` uses it to see where a webhook's time goes under load.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import signal
from pathlib import Path

import structlog

log = structlog.get_logger("lead_router.profiling")


def profile_between_signals(path: Path) -> None:
    """From now on in this process: SIGUSR1 profiles the running event loop's thread, SIGUSR2
    stops and writes the statistics to `path`. Call it with the loop running."""
    loop = asyncio.get_running_loop()
    running: list[cProfile.Profile] = []

    def start() -> None:
        if not running:
            running.append(cProfile.Profile())
            running[0].enable()

    def stop() -> None:
        if not running:
            return
        profile = running.pop()
        profile.disable()
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            profile.dump_stats(temporary)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        log.info("profile written", path=str(path))

    loop.add_signal_handler(signal.SIGUSR1, start)
    loop.add_signal_handler(signal.SIGUSR2, stop)
