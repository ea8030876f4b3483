"""The lead queue: Taskiq's in-process broker by default, a Redis Stream broker at scale.

The stream broker (`service.stream.LeadStream`) acknowledges a message after the task has run;
a worker takes a message only when it has a free slot, and a worker that dies leaves its
messages pending for another to claim once they have been left for `LEASE_TTL_MS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from taskiq import AckableMessage, AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker
from taskiq.receiver import Receiver

from service.faults import Outages
from service.settings import Settings
from service.stream import LeadStream

TASK_NAME = "process_lead"


def consumer_group(settings: Settings) -> str:
    """The stream's consumer group, shared by every worker."""
    return f"{settings.queue_name}-workers"


class SlottedReceiver(Receiver):
    """The in-process broker's receiver, running at most `max_running` tasks at once.

    `InMemoryBroker` runs each task as soon as it is sent (its `max_async_tasks` bounds only a
    listening worker), so a burst of leads would all run at once and crowd the API out of the
    event loop it shares with them. With this receiver a task waits for a free slot first, in
    the order sent; a waiting task costs nothing but its place.
    """

    def __init__(self, broker: InMemoryBroker, max_running: int) -> None:
        super().__init__(broker, executor=broker.executor, max_async_tasks=max_running)
        self.slots = asyncio.Semaphore(max_running)

    async def callback(self, message: bytes | AckableMessage, raise_err: bool = False) -> None:
        """Run the task once a slot is free."""
        async with self.slots:
            await super().callback(message, raise_err)


def make_broker(settings: Settings, outages: Outages | None = None) -> AsyncBroker:
    """The broker for this process's settings; `outages` hears when Redis is out of reach."""
    if settings.queue_url:
        return LeadStream(
            settings.queue_url,
            queue_name=settings.queue_name,
            consumer_group_name=consumer_group(settings),
            claim_after_ms=settings.lease_ttl_ms,
            outages=outages,
        )
    local = InMemoryBroker(max_async_tasks=settings.worker_concurrency)
    local.receiver = SlottedReceiver(local, settings.worker_concurrency)
    return local


async def queue_depth(broker: AsyncBroker, settings: Settings) -> int:
    """Messages the queue holds that no worker has finished: waiting or running.

    The Redis stream: the consumer group's undelivered entries (`lag`) and its delivered but
    unacknowledged ones (`pending`). In process: the tasks kicked and not yet done.
    """
    if isinstance(broker, LeadStream):
        client = Redis(connection_pool=broker.connection_pool)
        try:
            groups = await client.xinfo_groups(settings.queue_name)
        except Exception as exc:  # no stream yet: nothing was ever queued
            if "no such key" in str(exc).lower():
                return 0
            raise
        finally:
            await client.aclose(close_connection_pool=False)
        group = consumer_group(settings)
        for info in groups:
            name = info.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == group:
                return int(info.get("pending") or 0) + int(info.get("lag") or 0)
        return 0
    # InMemoryBroker keeps the asyncio tasks it kicked until each is done.
    return len(getattr(broker, "_running_tasks", ()))


DECISION_TASK = "apply_decision"


def register(
    broker: AsyncBroker, handler: Callable[[str], Awaitable[Any]]
) -> AsyncTaskiqDecoratedTask[[str], Any]:
    """Register `process_lead(lead_id)` on the broker, handled by `handler`."""

    async def process_lead(lead_id: str) -> None:
        await handler(lead_id)

    return broker.register_task(process_lead, task_name=TASK_NAME)


def register_decision(
    broker: AsyncBroker, handler: Callable[..., Awaitable[Any]]
) -> AsyncTaskiqDecoratedTask[..., Any]:
    """Register `apply_decision(lead_id, decision, actor, reason, expect_hop)` on the broker."""

    async def apply_decision(
        lead_id: str, decision: str, actor: str, reason: str | None, expect_hop: int | None
    ) -> None:
        await handler(lead_id, decision, actor=actor, reason=reason, expect_hop=expect_hop)

    return broker.register_task(apply_decision, task_name=DECISION_TASK)


REPLY_TASK = "apply_reply"


def register_reply(
    broker: AsyncBroker, handler: Callable[[str, dict[str, Any]], Awaitable[Any]]
) -> AsyncTaskiqDecoratedTask[[str, dict[str, Any]], Any]:
    """Register `apply_reply(lead_id, reply)` on the broker, handled by `handler`."""

    async def apply_reply(lead_id: str, reply: dict[str, Any]) -> None:
        await handler(lead_id, reply)

    return broker.register_task(apply_reply, task_name=REPLY_TASK)


BOOKING_TASK = "apply_booking"


def register_booking(
    broker: AsyncBroker, handler: Callable[[str, dict[str, Any]], Awaitable[Any]]
) -> AsyncTaskiqDecoratedTask[[str, dict[str, Any]], Any]:
    """Register `apply_booking(lead_id, change)` on the broker, handled by `handler`."""

    async def apply_booking(lead_id: str, change: dict[str, Any]) -> None:
        await handler(lead_id, change)

    return broker.register_task(apply_booking, task_name=BOOKING_TASK)


HUBSPOT_EVENT_TASK = "take_hubspot_event"


def register_hubspot_event(
    broker: AsyncBroker, handler: Callable[[dict[str, Any]], Awaitable[Any]]
) -> AsyncTaskiqDecoratedTask[[dict[str, Any]], Any]:
    """Register `take_hubspot_event(event)` on the broker, handled by `handler`."""

    async def take_hubspot_event(event: dict[str, Any]) -> None:
        await handler(event)

    return broker.register_task(take_hubspot_event, task_name=HUBSPOT_EVENT_TASK)
