"""Work done aside in a forked child: it runs in another process, its outcome is reported
once, and a child that dies in the middle of the CRM seed leaves nothing the parent's own
seed does not complete."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tools import aside
from tools.aside import start_aside
from tools.crm_builtin import BuiltinCRM, seed_accounts_file

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="work is forked on Linux only")

ROWS = [
    {"account_id": f"A-{n}", "name": f"Account {n}", "domain": f"account{n}.com"} for n in range(50)
]


def _write_pid(path: Path) -> None:
    path.write_text(str(os.getpid()))


async def test_the_jobs_run_in_order_in_another_process(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"

    def then_second() -> None:
        assert first.is_file()
        _write_pid(second)

    started = start_aside("test", [lambda: _write_pid(first), then_second])

    assert started.pid not in (None, os.getpid())
    assert await started.wait() is True
    assert await started.wait() is True  # reaped once, answered again
    assert int(first.read_text()) == int(second.read_text()) == started.pid


async def test_a_failing_job_stops_the_rest_and_is_reported(tmp_path: Path) -> None:
    after = tmp_path / "after"

    def fails() -> None:
        raise OSError("disk full")

    started = start_aside("test", [fails, lambda: _write_pid(after)])

    assert await started.wait() is False
    assert not after.exists()


async def test_without_a_fork_the_jobs_run_here_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = tmp_path / "done"
    monkeypatch.setattr(aside.sys, "platform", "darwin")

    started = start_aside("test", [lambda: _write_pid(done)])

    assert started.pid is None and int(done.read_text()) == os.getpid()
    assert await started.wait() is True


async def test_the_seed_aside_writes_what_the_crm_seed_would(tmp_path: Path) -> None:
    aside_file, here_file = tmp_path / "aside" / "crm.sqlite3", tmp_path / "here" / "crm.sqlite3"

    started = start_aside("test", [lambda: seed_accounts_file(aside_file, ROWS, "d1")])
    assert await started.wait() is True
    async with BuiltinCRM(here_file) as crm:
        await crm.seed_accounts(ROWS, "d1")

    assert _companies(aside_file) == _companies(here_file)
    assert len(_companies(aside_file)) == len(ROWS)


async def test_a_child_killed_mid_seed_leaves_the_crm_for_the_parent_to_seed(
    tmp_path: Path,
) -> None:
    crm_file = tmp_path / "crm.sqlite3"
    async with BuiltinCRM(crm_file):
        pass  # the tables exist, as when the parent opened the CRM before

    def seed_then_die() -> None:
        conn = sqlite3.connect(crm_file, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO companies (id, domain, name, created_at, updated_at)"
            " VALUES ('A-0', 'account0.com', 'half written', 'now', 'now')"
        )
        os.kill(os.getpid(), signal.SIGKILL)

    started = start_aside("test", [seed_then_die])
    assert await started.wait() is False
    assert _companies(crm_file) == []

    async with BuiltinCRM(crm_file) as crm:
        assert await crm.seed_accounts(ROWS, "d1") == len(ROWS)
    assert [row[1] for row in _companies(crm_file)][:1] == ["Account 0"]
    assert len(_companies(crm_file)) == len(ROWS)


def _companies(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT id, name, domain, owner_email, parent_id, properties FROM companies ORDER BY id"
        ).fetchall()


async def test_a_child_that_does_not_finish_is_ended_after_the_wait(tmp_path: Path) -> None:
    started = start_aside("test", [lambda: time.sleep(3600)])

    assert await started.wait(timeout_s=0.3) is False
    assert started.pid is not None and not _is_child(started.pid)  # reaped: no zombie


def _is_child(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return True
