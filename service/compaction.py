"""Compacting a finished lead's checkpoints after `CHECKPOINT_RETENTION_HOURS`.

LangGraph keeps a checkpoint per step; a finished lead needs only its latest, which its record
and any later event (a reply, a meeting change, a rep's decision) resume from. When a lead
completes, a timer is set for the end of its retention; when it fires, under the lead's lease:

1. the steps its history shows are written to its record (`LeadRecord.steps`), so the admin
   API and the console still show every step;
2. every checkpoint but the latest is deleted (PostgreSQL: the saver's `keep_latest` prune;
   SQLite: the same in SQL, then the freed pages handed back to the file system).

A crash between the two leaves the steps written and the history whole: the steps are marked
with the checkpoint they end at, so none is shown twice, and the next compaction finishes the
job. A lead still waiting for its rep is compacted too, and looked at again after another
retention period, so the steps it takes later are compacted in turn.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from service.runner import COMPACT_TASK, schedule_compaction, thread_config
from service.steps import kept_steps, lead_steps
from tools.ports import LeadRecords, Leases, Timers

log = structlog.get_logger("lead_router.compaction")

TASK = COMPACT_TASK
BUSY_RETRY_S = 60.0
LEASE_MS = 30_000
schedule = schedule_compaction


async def keep_latest(checkpointer: BaseCheckpointSaver[Any], thread_id: str) -> bool:
    """Delete every checkpoint of the thread but the latest (and their pending writes); False
    when this saver cannot (an in-memory one keeps everything)."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    if isinstance(checkpointer, AsyncPostgresSaver):
        await checkpointer.aprune([thread_id], strategy="keep_latest")
        return True
    if isinstance(checkpointer, AsyncSqliteSaver):
        latest = (
            "SELECT MAX(checkpoint_id) FROM checkpoints AS c "
            "WHERE c.thread_id = ? AND c.checkpoint_ns = {table}.checkpoint_ns"
        )
        async with checkpointer.lock:
            for table in ("writes", "checkpoints"):
                await checkpointer.conn.execute(
                    f"DELETE FROM {table} WHERE thread_id = ? "
                    f"AND checkpoint_id < ({latest.format(table=table)})",
                    (thread_id, thread_id),
                )
            await checkpointer.conn.commit()
            # Freed pages go back to the file system when the file was made for it (the pragma
            # frees a page a step; a script runs it to the end).
            await checkpointer.conn.executescript("PRAGMA incremental_vacuum;")
        return True
    return False


async def compact_lead(
    *,
    lead_id: str,
    records: LeadRecords,
    leases: Leases,
    timers: Timers,
    graph: CompiledStateGraph[Any, Any, Any, Any],
    checkpointer: BaseCheckpointSaver[Any],
    retention_s: float,
    now: float,
) -> str:
    """Compact one lead (see the module doc): "compacted", "busy" or "not finished" (both
    rescheduled), or "unknown"."""
    lease, token = f"lead:{lead_id}", uuid.uuid4().hex
    if not await leases.acquire_lease(lease, token, LEASE_MS):
        await schedule(timers, lead_id, now + BUSY_RETRY_S)
        return "busy"
    try:
        record = await records.get_lead(lead_id)
        if record is None:
            return "unknown"
        if record.status != "completed":
            await schedule(timers, lead_id, now + max(retention_s, BUSY_RETRY_S))
            return "not finished"
        steps = await lead_steps(graph, lead_id, record.steps)
        await records.update_lead(lead_id, steps=kept_steps(steps))
        await keep_latest(checkpointer, lead_id)
        snapshot = await graph.aget_state(thread_config(lead_id))
        if snapshot.next:  # waiting for its rep: what comes next is compacted later
            await schedule(timers, lead_id, now + max(retention_s, BUSY_RETRY_S))
        log.debug("lead compacted", lead_id=lead_id, steps=len(steps))
        return "compacted"
    finally:
        await leases.release_lease(lease, token)
