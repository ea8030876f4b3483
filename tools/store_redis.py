"""Store backed by Redis (`redis.asyncio`): the production backend for keys, leases and counters.

Every key lives under `prefix`. A lead is a JSON string at `<prefix>lead:<id>` with a TTL of
`record_ttl_s`, indexed by received_at (integer microseconds) in sorted sets: all leads, and
one per status, owner and action value. A hash remembers which of those sets each lead is in,
and a sorted set of expiry times lets `list_leads` purge index entries of expired leads.
Read-modify-write steps run as Lua scripts; the lead scripts derive index keys from the prefix,
so the store needs a single Redis server (not Redis Cluster).

Open it with `store = await RedisStore(url, prefix=..., record_ttl_s=...).open()`; `open()`
pings the server and returns the store.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import DataError, NoScriptError

from tools.ports import Claim, LeadRecord, RoundRobinPick
from tools.store import (
    decode_receipt,
    encode_receipt,
    lead_from_json,
    lead_to_json,
    merge_lead_fields,
    received_us,
    validate_candidates,
    validate_page,
    validate_ttl,
)

PURGE_BATCH = 500
UPDATE_ATTEMPTS = 50
KEPT_CONNECTIONS = 16  # script connections kept between calls (`RedisStore._run`)

_LUA_INDEX_HELPERS = """
local function index_keys(index_prefix, tags)
  local t = cjson.decode(tags)
  return {
    index_prefix .. 'status:' .. t[1],
    index_prefix .. 'owner:' .. t[2],
    index_prefix .. 'action:' .. t[3],
  }
end
local function unindex(index_prefix, tags, lead_id)
  for _, key in ipairs(index_keys(index_prefix, tags)) do
    redis.call('ZREM', key, lead_id)
  end
end
local function index(index_prefix, tags, lead_id, score)
  for _, key in ipairs(index_keys(index_prefix, tags)) do
    redis.call('ZADD', key, score, lead_id)
  end
end
"""

# The claim: the record already there, or a new one stored and indexed.
_CLAIM_FOUND = """
local current = redis.call('GET', KEYS[1])
if current then
  return {0, current}
end
"""

_CLAIM_NEW = """
local stale = redis.call('HGET', KEYS[3], ARGV[1])
if stale then
  unindex(ARGV[5], stale, ARGV[1])
end
local tags = cjson.encode({ARGV[6], ARGV[7], ARGV[8]})
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
index(ARGV[5], tags, ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], tags)
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[4]), ARGV[1])
return {1}
"""
# KEYS: lead, all-index, tags, expiry. ARGV: lead_id, json, score, ttl_s, index prefix,
# status, owner, action. Returns {1} when created (the record is the one sent), {0, existing
# json} otherwise.
_CLAIM_LUA = _LUA_INDEX_HELPERS + _CLAIM_FOUND + _CLAIM_NEW

# As the claim, and a new lead's entry added to a stream first, in the same step.
# KEYS: as the claim, then the stream. ARGV: as the claim, then the entry's `data`.
_CLAIM_QUEUE_LUA = (
    _LUA_INDEX_HELPERS
    + _CLAIM_FOUND
    + "redis.call('XADD', KEYS[5], '*', 'data', ARGV[9])\n"
    + _CLAIM_NEW
)

# KEYS: lead, all-index, tags. ARGV: lead_id, expected json, new json, score, index prefix,
# status, owner, action. Returns 1 when written, 0 when the record changed, -1 when missing.
_UPDATE_LUA = (
    _LUA_INDEX_HELPERS
    + """
local current = redis.call('GET', KEYS[1])
if not current then
  return -1
end
if current ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
local old = redis.call('HGET', KEYS[3], ARGV[1])
if old then
  unindex(ARGV[5], old, ARGV[1])
end
local tags = cjson.encode({ARGV[6], ARGV[7], ARGV[8]})
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
index(ARGV[5], tags, ARGV[1], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[1], tags)
return 1
"""
)

# KEYS: expiry, all-index, tags. ARGV: lead key prefix, index prefix, batch size.
# Drops index entries of leads whose record has expired; returns how many.
_PURGE_LUA = (
    _LUA_INDEX_HELPERS
    + """
local now = tonumber(redis.call('TIME')[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local purged = 0
for _, lead_id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[1] .. lead_id) == 0 then
    local tags = redis.call('HGET', KEYS[3], lead_id)
    if tags then
      unindex(ARGV[2], tags, lead_id)
    end
    redis.call('HDEL', KEYS[3], lead_id)
    redis.call('ZREM', KEYS[2], lead_id)
    redis.call('ZREM', KEYS[1], lead_id)
    purged = purged + 1
  end
end
return purged
"""
)

# KEYS: assignment, counts hash, sequence. ARGV: ttl_s, then rep_id, weight pairs.
# Returns {rep_id, sequence, repeated (0/1), flat counts}.
_PICK_LUA = """
local existing = redis.call('GET', KEYS[1])
if existing then
  local sep = string.find(existing, ':', 1, true)
  return {
    string.sub(existing, sep + 1),
    tonumber(string.sub(existing, 1, sep - 1)),
    1,
    redis.call('HGETALL', KEYS[2]),
  }
end
local best, best_key = nil, nil
for i = 2, #ARGV, 2 do
  local count = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  local key = (count + 1) / tonumber(ARGV[i + 1])
  if best_key == nil or key < best_key then
    best, best_key = ARGV[i], key
  end
end
redis.call('HINCRBY', KEYS[2], best, 1)
local sequence = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[1], sequence .. ':' .. best, 'EX', ARGV[1])
return {best, sequence, 0, redis.call('HGETALL', KEYS[2])}
"""

# KEYS: lease. ARGV: token, ttl_ms.
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease. ARGV: token.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


# Pop timers due by ARGV[1] (at most ARGV[2]) atomically: each is returned to one caller only.
_POP_TIMERS_LUA = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0,
                       tonumber(ARGV[2]))
local out = {}
for i = 1, #due, 2 do
  local key = due[i]
  redis.call('ZREM', KEYS[1], key)
  local payload = redis.call('HGET', KEYS[2], key)
  redis.call('HDEL', KEYS[2], key)
  if payload then table.insert(out, {key, due[i + 1], payload}) end
end
return out
"""


def _claimed(fresh: LeadRecord, answer: list[Any]) -> Claim:
    """The claim script's answer: {1} when `fresh` was stored, {0, json} for the lead there."""
    if answer[0]:
        return Claim(True, fresh)
    return Claim(False, lead_from_json(answer[1]))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _packed(*args: str | bytes | int | float) -> bytes:
    """A command in the Redis protocol (RESP), its arguments encoded as redis-py's encoder
    encodes them (text as UTF-8, numbers as their `repr`), in one buffer."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int | float) and not isinstance(arg, bool):
            data = repr(arg).encode()
        else:
            raise DataError(f"cannot send {type(arg).__name__} to Redis: {arg!r}")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RedisStore:
    """Lead records, leases, round-robin counters, cache and receipts in Redis."""

    def __init__(
        self, url: str, *, prefix: str = "lr:", record_ttl_s: int, max_connections: int = 64
    ) -> None:
        validate_ttl(record_ttl_s)
        self._prefix = prefix
        self._record_ttl_s = record_ttl_s
        # A burst waits for a free connection (up to 10 s) instead of failing; a command on a
        # connection Redis dropped (a restart) is sent again on a new one, twice at most.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=10,
            decode_responses=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )
        self._pool = pool
        self._redis: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._kept: list[Connection] = []
        self._claim_script = self._redis.register_script(_CLAIM_LUA)
        self._claim_queue_script = self._redis.register_script(_CLAIM_QUEUE_LUA)
        self._update_script = self._redis.register_script(_UPDATE_LUA)
        self._purge_script = self._redis.register_script(_PURGE_LUA)
        self._pick_script = self._redis.register_script(_PICK_LUA)
        self._renew_script = self._redis.register_script(_RENEW_LUA)
        self._release_script = self._redis.register_script(_RELEASE_LUA)
        self._pop_timers_script = self._redis.register_script(_POP_TIMERS_LUA)

    async def open(self) -> RedisStore:
        """Check that the server answers and return the store."""
        await self.ping()
        return self

    async def ping(self) -> None:
        """Raise if the Redis server cannot be reached."""
        await self._redis.ping()

    async def close(self) -> None:
        """Close the connection pool."""
        kept, self._kept = self._kept, []
        for conn in kept:
            await self._pool.release(conn)
        await self._redis.aclose()

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script (EVALSHA; loaded first when the server answers NOSCRIPT), with the
        client's retries: a command on a connection Redis dropped is sent again on a new one.

        What `script(keys=..., args=...)` does, on a connection kept from the last call
        instead of one taken from the pool and given back around every command: the pool's
        lock, timeout and bookkeeping cost as much as the command itself, and every webhook
        runs one. At most `KEPT_CONNECTIONS` are kept; a connection that failed is kept
        closed and reconnects on its next command.
        """
        if self._kept:
            conn = self._kept.pop()
        else:
            conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                return await self._evalsha(conn, script.sha, keys, args)
            except NoScriptError:  # the server restarted, or its scripts were flushed
                script.sha = await self._redis.script_load(script.script)
                return await self._evalsha(conn, script.sha, keys, args)
        finally:
            if len(self._kept) < KEPT_CONNECTIONS:
                self._kept.append(conn)
            else:
                await self._pool.release(conn)

    @staticmethod
    async def _evalsha(conn: Connection, sha: str, keys: list[str], args: list[Any]) -> Any:
        command = _packed("EVALSHA", sha, len(keys), *keys, *args)

        async def send() -> Any:
            await conn.send_packed_command(command)
            return await conn.read_response()

        async def failed(error: Exception) -> None:
            await conn.disconnect(error=error)

        return await conn.retry.call_with_retry(send, failed)

    # Key names

    def _lead_key(self, lead_id: str) -> str:
        return f"{self._prefix}lead:{lead_id}"

    @property
    def _index_prefix(self) -> str:
        return f"{self._prefix}leads:"

    def _index_key(self, kind: str, value: str) -> str:
        return f"{self._index_prefix}{kind}:{value}"

    def _lead_keys(self) -> list[str]:
        """Return the all-leads index, the index-membership hash and the expiry index."""
        base = self._index_prefix
        return [f"{base}all", f"{base}tags", f"{base}expiry"]

    # Leads

    async def claim(self, record: LeadRecord) -> Claim:
        """Store the record as queued unless its lead_id exists; return the stored record."""
        fresh, keys, args = self._claim_arguments(record)
        return _claimed(fresh, await self._run(self._claim_script, keys, args))

    async def claim_and_queue(self, record: LeadRecord, stream: str, entry: bytes) -> Claim:
        """`claim`, and for a new lead add `{data: entry}` to the stream `stream` (on this
        store's server) in the same step: one round trip, and a lead stored is a lead queued."""
        fresh, keys, args = self._claim_arguments(record)
        script = self._claim_queue_script
        return _claimed(fresh, await self._run(script, [*keys, stream], [*args, entry]))

    def _claim_arguments(
        self, record: LeadRecord
    ) -> tuple[LeadRecord, list[str], list[str | int | bytes]]:
        """The record as a claim stores it, and the claim script's keys and arguments."""
        fresh = dataclasses.replace(record, status="queued", updated_at=record.received_at)
        all_key, tags_key, expiry_key = self._lead_keys()
        return (
            fresh,
            [self._lead_key(fresh.lead_id), all_key, tags_key, expiry_key],
            [
                fresh.lead_id,
                lead_to_json(fresh),
                received_us(fresh.received_at),
                self._record_ttl_s,
                self._index_prefix,
                fresh.status,
                fresh.owner,
                fresh.action,
            ],
        )

    async def get_lead(self, lead_id: str) -> LeadRecord | None:
        """Return the live record of this lead, or None."""
        encoded = await self._redis.get(self._lead_key(lead_id))
        return None if encoded is None else lead_from_json(encoded)

    async def update_lead(self, lead_id: str, **fields: Any) -> None:
        """Merge the given fields into the record; raise KeyError if the lead does not exist."""
        key = self._lead_key(lead_id)
        all_key, tags_key, _ = self._lead_keys()
        for _ in range(UPDATE_ATTEMPTS):
            current = await self._redis.get(key)
            if current is None:
                raise KeyError(lead_id)
            merged = merge_lead_fields(lead_from_json(current), fields)
            result = await self._run(
                self._update_script,
                [key, all_key, tags_key],
                [
                    lead_id,
                    current,
                    lead_to_json(merged),
                    received_us(merged.received_at),
                    self._index_prefix,
                    merged.status,
                    merged.owner,
                    merged.action,
                ],
            )
            if result == 1:
                return
            if result == -1:
                raise KeyError(lead_id)
        raise RuntimeError(f"lead {lead_id} kept changing during update_lead")

    async def list_leads(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        action: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LeadRecord]:
        """Return live records matching every given filter, newest received_at first."""
        validate_page(limit, offset)
        await self._purge_expired_leads()
        if limit == 0:
            return []
        all_key = self._lead_keys()[0]
        filters = [("status", status), ("owner", owner), ("action", action)]
        keys = [self._index_key(kind, value) for kind, value in filters if value is not None]
        if len(keys) <= 1:
            source = keys[0] if keys else all_key
            members = await self._redis.zrevrange(source, offset, offset + limit - 1)
            ids = [str(member) for member in members]
        else:
            matches = cast(
                list[tuple[str, float]],
                await self._redis.zinter(keys, aggregate="MAX", withscores=True),
            )
            scored = sorted(
                ((float(score), str(member)) for member, score in matches), reverse=True
            )
            ids = [lead_id for _, lead_id in scored[offset : offset + limit]]
        if not ids:
            return []
        encoded = await self._redis.mget([self._lead_key(lead_id) for lead_id in ids])
        return [lead_from_json(item) for item in encoded if item is not None]

    async def _purge_expired_leads(self) -> None:
        all_key, tags_key, expiry_key = self._lead_keys()
        await self._run(
            self._purge_script,
            [expiry_key, all_key, tags_key],
            [self._lead_key(""), self._index_prefix, PURGE_BATCH],
        )

    # Leases

    def _lease_key(self, name: str) -> str:
        return f"{self._prefix}lease:{name}"

    async def acquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        """Take the lease if free or expired, or extend it if this token holds it."""
        validate_ttl(ttl_ms)
        key = self._lease_key(name)
        if await self._redis.set(key, token, nx=True, px=ttl_ms):
            return True
        if await self.renew_lease(name, token, ttl_ms):
            return True
        return bool(await self._redis.set(key, token, nx=True, px=ttl_ms))

    async def renew_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        """Extend the lease only if this token holds it."""
        validate_ttl(ttl_ms)
        renewed = await self._run(self._renew_script, [self._lease_key(name)], [token, ttl_ms])
        return bool(renewed)

    async def release_lease(self, name: str, token: str) -> bool:
        """Delete the lease only if this token holds it; return whether it was released."""
        released = await self._run(self._release_script, [self._lease_key(name)], [token])
        return bool(released)

    async def lease_holder(self, name: str) -> str | None:
        """Return the token holding the live lease, or None."""
        holder = await self._redis.get(self._lease_key(name))
        return None if holder is None else str(holder)

    # Weighted round robin

    def _pool_key(self, pool: str, part: str) -> str:
        return f"{self._prefix}rr:{pool}:{part}"

    async def pick_weighted(
        self, pool: str, lead_id: str, candidates: list[tuple[str, float]]
    ) -> RoundRobinPick:
        """Assign the lead to the candidate furthest below its weighted share, once per pool."""
        validate_candidates(candidates)
        args: list[str | int] = [self._record_ttl_s]
        for rep_id, weight in candidates:
            args += [rep_id, repr(float(weight))]
        rep_id, sequence, repeated, flat_counts = await self._run(
            self._pick_script,
            [
                self._pool_key(pool, f"lead:{lead_id}"),
                self._pool_key(pool, "counts"),
                self._pool_key(pool, "sequence"),
            ],
            args,
        )
        counts = {
            str(flat_counts[i]): int(flat_counts[i + 1]) for i in range(0, len(flat_counts), 2)
        }
        return RoundRobinPick(str(rep_id), int(sequence), counts, repeated=bool(repeated))

    async def pool_counts(self, pool: str) -> dict[str, int]:
        """Return how many leads each rep has been assigned in this pool."""
        counts = await self._redis.hgetall(self._pool_key(pool, "counts"))
        return {str(rep_id): int(count) for rep_id, count in counts.items()}

    # Cache

    def _cache_key(self, key: str) -> str:
        return f"{self._prefix}cache:{key}"

    async def cache_get(self, key: str) -> str | None:
        """Return the live cached value, or None."""
        value = await self._redis.get(self._cache_key(key))
        return None if value is None else str(value)

    async def cache_set(self, key: str, value: str, ttl_s: int) -> None:
        """Store the value for ttl_s seconds, replacing any previous one."""
        validate_ttl(ttl_s)
        await self._redis.set(self._cache_key(key), value, ex=ttl_s)

    async def cache_set_if_absent(self, key: str, value: str, ttl_s: int) -> str:
        """Store the value unless a live one exists; return the value that is stored."""
        validate_ttl(ttl_s)
        cache_key = self._cache_key(key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(cache_key, value, nx=True, ex=ttl_s)
            pipe.get(cache_key)
            _, stored = await pipe.execute()
        return str(stored)

    # Receipts

    def _receipts_key(self, lead_id: str) -> str:
        return f"{self._prefix}receipts:{lead_id}"

    async def get_receipt(self, lead_id: str, effect: str) -> dict[str, Any] | None:
        """Return the stored receipt of this effect, or None."""
        encoded = await self._redis.hget(self._receipts_key(lead_id), effect)
        return None if encoded is None else decode_receipt(encoded)

    async def get_receipts(self, lead_id: str) -> dict[str, dict[str, Any]]:
        """Return every stored receipt of this lead, by effect."""
        stored = await self._redis.hgetall(self._receipts_key(lead_id))
        return {str(effect): decode_receipt(value) for effect, value in stored.items()}

    async def put_receipt(
        self, lead_id: str, effect: str, receipt: dict[str, Any]
    ) -> dict[str, Any]:
        """Store the receipt unless one exists; return the receipt that is stored."""
        key = self._receipts_key(lead_id)
        encoded = encode_receipt(receipt)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, effect, encoded)
            pipe.hget(key, effect)
            pipe.expire(key, self._record_ttl_s)
            _, stored, _ = await pipe.execute()
        return decode_receipt(stored)

    async def record_outcome(self, lead_id: str, outcome: dict[str, Any]) -> None:
        """Store the lead's current outcome, replacing an earlier one (no expiry)."""
        entry = json.dumps({**outcome, "lead_id": lead_id, "_at": time.time()}, sort_keys=True)
        await self._redis.hset(f"{self._prefix}outcomes", lead_id, entry)

    async def list_outcomes(self) -> list[dict[str, Any]]:
        """Every stored outcome, oldest first, each with its `lead_id`."""
        stored = await self._redis.hgetall(f"{self._prefix}outcomes")
        entries = [json.loads(value) for value in stored.values()]
        entries.sort(key=lambda e: (e["_at"], e["lead_id"]))
        return [{k: v for k, v in e.items() if k != "_at"} for e in entries]

    async def add_timer(self, key: str, due_at: float, payload: dict[str, Any]) -> None:
        """Schedule `payload` at `due_at` (epoch seconds); a key already scheduled is kept."""
        added = await self._redis.hsetnx(f"{self._prefix}timers:payload", key, json.dumps(payload))
        if added:
            await self._redis.zadd(f"{self._prefix}timers:due", {key: due_at}, nx=True)

    async def pop_due_timers(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        """Remove and return timers due by `now`, earliest first; each is popped once."""
        popped = await self._run(
            self._pop_timers_script,
            [f"{self._prefix}timers:due", f"{self._prefix}timers:payload"],
            [now, limit],
        )
        return [
            {"key": _text(key), "due_at": float(due), "payload": json.loads(payload)}
            for key, due, payload in popped
        ]
