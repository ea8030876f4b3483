"""What every node shares: timing (in the record and in the metrics), log binding and the
run-once guard for side effects."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from langgraph.errors import GraphBubbleUp

from domain.prompts import chat, version
from domain.records import ModelCall
from graph.state import LeadState
from tools import metrics
from tools.ports import Answer, ChatModel, Receipts

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

log = structlog.get_logger("lead_router.graph")


def timed(name: str) -> Callable[[F], F]:
    """Record the node's duration in `timings` and in the node histogram (an attempt that raises
    in the node's error count), and bind `lead_id` and `node` to its logs."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        async def wrapper(state: LeadState, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            with structlog.contextvars.bound_contextvars(lead_id=state.get("lead_id"), node=name):
                try:
                    update = await func(state, *args, **kwargs)
                except GraphBubbleUp:  # an interrupt or a jump: LangGraph's control flow
                    raise
                except Exception:
                    metrics.NODE_ERRORS.labels(node=name).inc()
                    raise
                seconds = time.perf_counter() - started
                metrics.NODE_DURATION.labels(node=name).observe(seconds)
                ms = round(seconds * 1000, 3)
                log.debug("node finished", ms=ms)
            finished = datetime.now(UTC).isoformat()
            return {**update, "timings": {name: {"ms": ms, "finished_at": finished}}}

        return wrapper  # type: ignore[return-value]

    return decorate


async def once(
    receipts: Receipts,
    lead_id: str,
    effect: str,
    write: Callable[[], Awaitable[dict[str, Any]]],
    stored: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run an external write at most once per (lead, effect) and return its stored receipt.

    A node that is retried or resumed runs from its top; the receipt short-circuits a write
    that already happened. `write` must itself be keyed (upsert, unique key) so a crash between
    the write and storing the receipt still leaves one record. A node with several effects
    reads the lead's receipts once at its top (`receipts.get_receipts`) and passes them as
    `stored`; the lead's lease keeps anyone else from storing one meanwhile.
    """
    if stored is None:
        existing = await receipts.get_receipt(lead_id, effect)
    else:
        existing = stored.get(effect)
    if existing is not None:
        return {**existing, "replayed": True}
    receipt = await write()
    return await receipts.put_receipt(lead_id, effect, receipt)


async def ask_once(
    receipts: Receipts,
    model: ChatModel,
    lead_id: str,
    effect: str,
    prompt: str,
    schema: type[Answer],
    **variables: Any,
) -> tuple[Answer | None, ModelCall]:
    """Ask the model once per (lead, effect) with `prompts/<prompt>.md`; the answer and its
    call record are kept as a receipt, so a rerun reuses them. The task is the effect's last
    dotted part (`model.classify` → `classify`)."""
    system, user = chat(prompt, **variables)
    task = effect.rsplit(".", 1)[-1]

    async def call() -> dict[str, Any]:
        answer = await model.ask(task, version(prompt), system, user, schema)
        parsed = answer.parsed.model_dump() if answer.parsed is not None else None
        return {"parsed": parsed, "call": dict(answer.call)}

    stored = await once(receipts, lead_id, effect, call)
    parsed = schema.model_validate(stored["parsed"]) if stored["parsed"] is not None else None
    return parsed, stored["call"]
