"""Start-up work done aside, in a forked child process, while this process goes on.

Opening the service on 100,000 accounts is seconds of Python, all under one interpreter lock.
Some of it only ends in a file: the built-in CRM's seed and the accounts read kept in
DATA_DIR. A child forked once the accounts are read has them without copying and can write
those files on the second core while this process builds the account index.

What a child does is only a head start. The caller still runs its own path afterwards and
finds the work done (a seed with the same digest is skipped, a kept file with the same key is
read) or, when the child failed, does it itself: a failed child costs time, never data.
Forking is used on Linux only; elsewhere `start_aside` runs the jobs in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence

import structlog

log = structlog.get_logger("lead_router.aside")

ASIDE_MIN_ROWS = 20_000
"""Accounts from which the start-up's file work is done aside: below it, a fork costs more
than it saves."""
ASIDE_WAIT_S = 300.0
"""How long `Aside.wait` waits before it ends a child that has not finished (a 100,000-account
seed takes a few seconds)."""


class Aside:
    """A child doing jobs aside (`start_aside`); `wait` reaps it."""

    def __init__(self, what: str, pid: int | None, done: bool) -> None:
        self.what = what
        self._pid = pid
        self._done: bool | None = None if pid is not None else done

    @property
    def pid(self) -> int | None:
        """The child's process id; None when the jobs ran in this process."""
        return self._pid

    async def wait(self, timeout_s: float = ASIDE_WAIT_S) -> bool:
        """Wait for the child to end (once; later calls answer the same); True when every job
        succeeded. A child still running after `timeout_s` is killed. A child that failed or
        was killed is logged, as one line."""
        if self._done is None:
            assert self._pid is not None
            code = await _exit_code(self._pid, timeout_s)
            self._done = code == 0
            if code is None:
                log.warning("work aside took too long; ended", what=self.what, after_s=timeout_s)
            elif code < 0:
                log.warning("work aside killed", what=self.what, signal=-code)
            elif code != 0:
                log.warning("work aside failed; this process does it", what=self.what)
        return self._done


async def _exit_code(pid: int, timeout_s: float) -> int | None:
    """The exit code of child `pid` (negative: the signal that ended it), polled without
    blocking the event loop; None when it had to be killed after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    pause = 0.001
    while (code := _reaped(pid)) is None:
        if time.monotonic() >= deadline:
            _end(pid)
            return None
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)
    return code


def _reaped(pid: int) -> int | None:
    """Child `pid`'s exit code once it has ended (and reaped), else None; does not wait."""
    done, status = os.waitpid(pid, os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done else None


def _end(pid: int) -> None:
    """Kill child `pid` and reap it (a killed process ends at once)."""
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def start_aside(what: str, jobs: Sequence[Callable[[], object]]) -> Aside:
    """Run `jobs`, in order, in a child forked from this process, and return at once; on a
    platform without a safe fork, run them here first. A job that raises stops the rest and
    is logged (the child's exit status is then 1). `what` names the work in log lines."""
    if sys.platform != "linux":
        return Aside(what, None, _run(what, jobs))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid:
        return Aside(what, pid, False)
    code = 1
    try:
        _leave_signals_to_the_parent()
        code = 0 if _run(what, jobs) else 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _run(what: str, jobs: Sequence[Callable[[], object]]) -> bool:
    try:
        for job in jobs:
            job()
    except Exception as exc:
        log.warning("work aside failed", what=what, error=f"{type(exc).__name__}: {exc}"[:300])
        return False
    return True


def _leave_signals_to_the_parent() -> None:
    """In the child: signals do what they do by default, and none reaches the parent's event
    loop through the wake-up descriptor it shares (an interrupt ends the child; the parent
    handles its own)."""
    with contextlib.suppress(ValueError):  # forked from a thread other than the main one
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
