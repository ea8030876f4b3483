"""The lead queue on a Redis Stream: taskiq-redis's stream broker, holding only what it runs.

`RedisStreamBroker` reads up to 100 messages at a time into its consumer and looks for other
consumers' unacknowledged messages only after reading new ones, so a worker killed with a
backlog strands it until new leads arrive and the idle timeout has passed. `LeadStream` keeps
the broker's stream, group and acknowledgement, and changes how messages are taken:

- **One at a time.** A message is read (`XREADGROUP COUNT 1`) only when the worker has a free
  slot (the receiver asks for the next one then), so a worker holds at most as many messages
  as it runs at once, `WORKER_CONCURRENCY`.
- **Kept alive while running.** Every third of `claim_after_ms` the worker touches the
  messages it is running (`XCLAIM` to itself, idle time reset), as it renews the leads' leases.
- **Claimed when left.** A message nobody touched for `claim_after_ms` (its worker died) is
  taken by the next worker with a free slot (`XAUTOCLAIM`), idle or not, checked every quarter
  of `claim_after_ms`. The worker's own lead lease has the same lifetime, so the lead is free
  (or nearly: the runner waits out the rest) when its message is claimed.
- **Dead consumers removed.** A consumer with nothing pending that has not read for
  `claim_after_ms` is deleted from the group (`XGROUP DELCONSUMER`); a live worker reads at
  least once a second and is recreated by its next read anyway.
- **One client.** Messages are added and acknowledged through one client on the broker's
  pool, not a client built per message (building one reads redis-py's package metadata).
- **Outages waited out.** While Redis cannot be reached the worker backs off and says so once
  (`Outages`); an acknowledgement that fails leaves the message pending, to be claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis, ResponseError
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from taskiq import AckableMessage, BrokerMessage
from taskiq_redis import RedisStreamBroker

from service.faults import REDIS_ERRORS, Outages, backoff, pause

CONCERN = "queue"

# Touch the messages this consumer still owns. KEYS: stream. ARGV: group, consumer, ids...
_KEEP_LUA = """
local kept = 0
for i = 3, #ARGV do
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #owned > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept
"""

# Delete consumers with nothing pending, idle longer than ARGV[3] ms, other than ARGV[2].
# KEYS: stream. ARGV: group, this consumer, idle ms. Returns how many were deleted.
_FORGET_LUA = """
local removed = 0
for _, fields in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #fields, 2 do info[fields[i]] = fields[i + 1] end
  if info['name'] ~= ARGV[2] and tonumber(info['pending']) == 0
      and tonumber(info['idle']) > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class LeadStream(RedisStreamBroker):
    """A Redis Stream broker whose worker holds only the messages it runs, keeps them while it
    lives, and takes over those of workers that died (see the module's docstring)."""

    def __init__(
        self,
        url: str,
        *,
        queue_name: str,
        consumer_group_name: str,
        claim_after_ms: int,
        outages: Outages | None = None,
        xread_block: int = 1000,
    ) -> None:
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name=consumer_group_name,
            xread_block=xread_block,
            xread_count=1,
            idle_timeout=claim_after_ms,
            unacknowledged_batch_size=1,
            # A command on a connection Redis dropped (a restart) is sent again on a new one.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )
        self.claim_after_ms = claim_after_ms
        self.outages = outages or Outages()
        self.running: set[str] = set()  # ids of the messages this worker has taken, not done
        self.client = Redis(connection_pool=self.connection_pool)

    def entry(self, task_name: str, *args: Any) -> bytes:
        """The `data` of the stream entry `kick` adds for `task_name(*args)`, for a caller
        that adds it itself (in the same step as storing the lead): the `TaskiqMessage` as
        the formatter dumps it (`model_dump(mode="json")`), written as that dict directly,
        since every webhook makes one."""
        return self.serializer.dumpb(
            {
                "task_id": self.id_generator(),
                "task_name": task_name,
                "labels": {},
                "labels_types": {},
                "args": list(args),
                "kwargs": {},
            }
        )

    async def kick(self, message: BrokerMessage) -> None:
        """Add the message to the stream."""
        queue_name = message.labels.get("queue_name") or self.queue_name
        await self.client.xadd(
            queue_name,
            {b"data": message.message},
            maxlen=self.maxlen,
            approximate=self.approximate,
        )

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            try:
                await self.client.xack(queue_name, self.consumer_group_name, id)
                self.outages.up(CONCERN)
            except REDIS_ERRORS as exc:  # left pending; claimed again once idle
                self.outages.down(CONCERN, exc)
            finally:
                self.running.discard(_text(id))

        return ack

    def _taken(self, msg_id: bytes | str, fields: dict[bytes, bytes]) -> AckableMessage:
        self.running.add(_text(msg_id))
        return AckableMessage(
            data=fields[b"data"],
            ack=self._ack_generator(id=_text(msg_id), queue_name=self.queue_name),
        )

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Yield one message each time the worker asks: a dead worker's first, then new ones."""
        async with Redis(connection_pool=self.connection_pool) as conn:
            keep = conn.register_script(_KEEP_LUA)
            forget = conn.register_script(_FORGET_LUA)
            keeper = asyncio.create_task(self._keep_running(keep))
            try:
                waits = backoff()
                cursor: bytes | str = "0-0"
                next_check = 0.0
                while True:
                    taken: AckableMessage | None = None
                    try:
                        if time.monotonic() >= next_check:
                            cursor, taken = await self._claim_one(conn, cursor)
                            if taken is None and _text(cursor) == "0-0":
                                await forget(
                                    keys=[self.queue_name],
                                    args=[
                                        self.consumer_group_name,
                                        self.consumer_name,
                                        self.claim_after_ms,
                                    ],
                                )
                                next_check = time.monotonic() + self.claim_after_ms / 4000
                        if taken is None:
                            taken = await self._read_one(conn, next_check)
                        self.outages.up(CONCERN)
                        waits = backoff()
                    except REDIS_ERRORS as exc:
                        self.outages.down(CONCERN, exc)
                        await pause(waits)
                        continue
                    except ResponseError as exc:
                        if "NOGROUP" not in str(exc):
                            raise
                        # The stream or its group is gone (Redis lost its data): make them again.
                        await self._declare_consumer_group()
                        continue
                    if taken is not None:
                        yield taken
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper

    async def _claim_one(
        self, conn: Redis, cursor: bytes | str
    ) -> tuple[bytes | str, AckableMessage | None]:
        """Take one message left idle for `claim_after_ms`, scanning on from `cursor`."""
        answer: list[Any] = await conn.xautoclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.claim_after_ms,
            start_id=cursor,
            count=1,
        )
        cursor, entries = answer[0], answer[1]
        for msg_id, fields in entries:
            if fields:
                return cursor, self._taken(msg_id, fields)
        return cursor, None

    async def _read_one(self, conn: Redis, next_check: float) -> AckableMessage | None:
        """Read one new message, waiting at most until the next claim check."""
        block = max(1, min(self.block, int((next_check - time.monotonic()) * 1000)))
        fetched: Any = await conn.xreadgroup(
            self.consumer_group_name,
            self.consumer_name,
            {self.queue_name: ">"},
            block=block,
            count=1,
        )
        for _, entries in fetched or []:
            for msg_id, fields in entries:
                return self._taken(msg_id, fields)
        return None

    async def _keep_running(self, keep: Any) -> None:
        """Touch the running messages every third of `claim_after_ms` until cancelled."""
        while True:
            await asyncio.sleep(self.claim_after_ms / 3000)
            if not self.running:
                continue
            try:
                await keep(
                    keys=[self.queue_name],
                    args=[self.consumer_group_name, self.consumer_name, *sorted(self.running)],
                )
            except REDIS_ERRORS as exc:
                self.outages.down(CONCERN, exc)
