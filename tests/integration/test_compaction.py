"""Checkpoints of finished leads compacted after their retention: one checkpoint a lead, every
step still shown by the admin API and the console, later events still resumed, on SQLite and
on PostgreSQL; compressed checkpoints, old ones still read; migrations that do not wait on
each other."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from service import console, records
from service.steps import kept_steps, lead_steps
from service.wiring import _checkpointer, open_services
from tests.helpers import lead_payload, make_settings, submit, submit_and_run
from tools.checkpoint_serde import SUFFIX, CompressedSerializer


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "postgres":
        return {"DATABASE_URL": request.getfixturevalue("postgres_url")}
    return {}


async def checkpoints_of(services: Any, lead_id: str) -> int:
    config = {"configurable": {"thread_id": lead_id}}
    return len([c async for c in services.checkpointer.alist(config)])


async def test_a_finished_lead_keeps_one_checkpoint_and_every_step(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    settings = make_settings(tmp_path, CHECKPOINT_RETENTION_HOURS=0, **backend)
    async with open_services(settings) as services:
        waiting = await submit_and_run(services, lead_payload())  # a rep decides later
        lead_id = waiting["lead_id"]
        before = await records.decision_record(services, lead_id)
        shown = await console.timeline(services, lead_id)
        assert await checkpoints_of(services, lead_id) > 5

        assert await services.fire_timers() >= 1

        after = await records.decision_record(services, lead_id)
        assert await checkpoints_of(services, lead_id) == 1
        assert after["history"] == before["history"] and len(after["history"]) >= 7
        assert await console.timeline(services, lead_id) == shown
        assert after["state"] == before["state"]

        # The rep accepts after the compaction: the thread resumes from its one checkpoint,
        # and the step shows once, after the others.
        await services.enqueue_decision(lead_id, "accept", actor="ana", expect_hop=0)
        await services.drain()
        decided = await records.decision_record(services, lead_id)
        nodes = [step["node"] for step in decided["history"]]
        assert nodes[: len(before["history"])] == [s["node"] for s in before["history"]]
        assert nodes[len(before["history"]) :] == ["wait_for_rep", "accept"]
        assert decided["state"]["rep_decision"]["decision"] == "accept"


async def test_a_lead_within_its_retention_is_left_whole(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, CHECKPOINT_RETENTION_HOURS=24)
    async with open_services(settings) as services:
        lead_id = (await submit_and_run(services, lead_payload()))["lead_id"]
        whole = await checkpoints_of(services, lead_id)
        assert await services.fire_timers() == 0
        assert await checkpoints_of(services, lead_id) == whole


async def test_steps_written_before_a_crash_are_not_shown_twice(tmp_path: Path) -> None:
    """Compaction writes the steps, then prunes: a crash between leaves both, and the steps
    each show once; the next compaction finishes the prune."""
    settings = make_settings(tmp_path, CHECKPOINT_RETENTION_HOURS=0)
    async with open_services(settings) as services:
        lead_id = (await submit_and_run(services, lead_payload()))["lead_id"]
        whole = await records.decision_record(services, lead_id)
        steps = kept_steps(await lead_steps(services.graph, lead_id, None))
        await services.store.update_lead(lead_id, steps=steps)  # as compaction writes them
        assert (await records.decision_record(services, lead_id))["history"] == whole["history"]
        assert await services.fire_timers() == 1
        assert (await records.decision_record(services, lead_id))["history"] == whole["history"]
        assert await checkpoints_of(services, lead_id) == 1


async def test_sqlite_gives_the_freed_pages_back(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, CHECKPOINT_RETENTION_HOURS=0)
    async with open_services(settings) as services:
        for _ in range(12):
            await submit_and_run(services, lead_payload())
        grown = settings.checkpoints_path.stat().st_size
        await services.fire_timers()
    with sqlite3.connect(settings.checkpoints_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
    assert rows == 12
    assert settings.checkpoints_path.stat().st_size < grown / 2


async def test_checkpoints_are_compressed_and_old_ones_still_read(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite3"
    config = {"configurable": {"thread_id": "t-1", "checkpoint_ns": ""}}
    big = {"text": "a lead's words " * 200}
    import aiosqlite
    from langgraph.checkpoint.base import empty_checkpoint

    async with aiosqlite.connect(path) as conn:
        plain = AsyncSqliteSaver(conn, serde=JsonPlusSerializer())
        await plain.setup()
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"lead": big}
        await plain.aput(config, checkpoint, {"step": 1}, {})
    async with aiosqlite.connect(path) as conn:
        saver = AsyncSqliteSaver(conn, serde=CompressedSerializer())
        old = await saver.aget_tuple({"configurable": {"thread_id": "t-1"}})
        assert old is not None and old.checkpoint["channel_values"]["lead"] == big
        newer = empty_checkpoint()
        newer["channel_values"] = {"lead": big}
        await saver.aput({"configurable": {"thread_id": "t-2", "checkpoint_ns": ""}}, newer, {}, {})
        again = await saver.aget_tuple({"configurable": {"thread_id": "t-2"}})
        assert again is not None and again.checkpoint["channel_values"]["lead"] == big
    with sqlite3.connect(path) as conn:
        types = dict(conn.execute("SELECT thread_id, type FROM checkpoints").fetchall())
        sizes = dict(conn.execute("SELECT thread_id, length(checkpoint) FROM checkpoints"))
    assert not types["t-1"].endswith(SUFFIX) and types["t-2"].endswith(SUFFIX)
    assert sizes["t-2"] < sizes["t-1"] / 5


async def test_processes_starting_together_migrate_without_waiting_on_each_other(
    tmp_path: Path, postgres_url: str
) -> None:
    """Three processes open the checkpointer on a fresh schema at once: one migrates, the
    others wait for it without holding up its concurrent index builds."""
    schema = f"lrtest_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    try:
        async with contextlib.AsyncExitStack() as stack:

            async def open_one(n: int) -> Any:
                settings = make_settings(tmp_path / str(n), DATABASE_URL=url)
                return await stack.enter_async_context(_checkpointer(settings))

            opened = await asyncio.wait_for(
                asyncio.gather(*(open_one(n) for n in range(3))), timeout=60
            )
            assert len(opened) == 3
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def test_a_lead_not_finished_is_looked_at_again_later(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, CHECKPOINT_RETENTION_HOURS=0)
    async with open_services(settings) as services:
        lead_id = await submit(services, lead_payload())
        from service.runner import schedule_compaction

        await schedule_compaction(services.context.timers, lead_id, 0)
        assert await services.fire_timers() == 1  # queued, not run: rescheduled
        record = await services.store.get_lead(lead_id)
        assert record is not None and record.steps is None
