"""The Store contract, run against SQLite and a real Redis alike."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.backends import open_store
from service.settings import Settings
from tools.ports import LeadRecord, RoundRobinPick, Store
from tools.store_redis import RedisStore
from tools.store_sqlite import SqliteStore

RECORD_TTL_S = 3600
WEIGHTS = {"a": 2.0, "b": 1.0, "c": 1.0}
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any]:
    """Which backend to open: a fresh SQLite file, or Redis under this test's own prefix."""
    if request.param == "sqlite":
        return "sqlite", tmp_path / "store.sqlite3"
    return "redis", (request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))


async def open_backend(backend: tuple[str, Any], record_ttl_s: int) -> Store:
    """Open the backend described by the `backend` fixture."""
    kind, where = backend
    if kind == "sqlite":
        return await SqliteStore(where, record_ttl_s=record_ttl_s).open()
    url, prefix = where
    return await RedisStore(url, prefix=prefix, record_ttl_s=record_ttl_s).open()


@pytest.fixture
async def store(backend: tuple[str, Any]) -> AsyncIterator[Store]:
    """An open store of the parametrized backend, closed afterwards."""
    opened = await open_backend(backend, RECORD_TTL_S)
    yield opened
    await opened.close()


@pytest.fixture
async def short_lived_store(backend: tuple[str, Any]) -> AsyncIterator[Store]:
    """An open store whose lead records expire after one second."""
    opened = await open_backend(backend, 1)
    yield opened
    await opened.close()


def lead(n: int, **fields: Any) -> LeadRecord:
    """A lead numbered n, received n minutes after T0."""
    values: dict[str, Any] = {
        "lead_id": f"lead-{n:04d}",
        "key": f"key-{n}",
        "payload_hash": f"hash-{n}",
        "payload": {"email": f"person{n}@example.com", "n": n, "tags": []},
        "source": "webhook",
        "received_at": (T0 + timedelta(minutes=n)).isoformat(),
    }
    values.update(fields)
    return LeadRecord(**values)


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Poll check until it returns True, failing after timeout_s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


def assert_fair(counts: dict[str, int], total: int, weights: dict[str, float]) -> None:
    """Assert each rep's count is within 1 of its weighted share of total."""
    weight_sum = sum(weights.values())
    assert sum(counts.values()) == total
    for rep_id, weight in weights.items():
        share = total * weight / weight_sum
        assert abs(counts.get(rep_id, 0) - share) <= 1, (rep_id, counts, share)


# Leads


async def test_claim_creates_once(store: Store) -> None:
    """A second claim of a lead_id returns the first record with created=False."""
    first = await store.claim(lead(1, status="completed"))
    second = await store.claim(lead(1, payload={"other": True}, payload_hash="different"))

    assert first.created is True
    assert first.record.status == "queued"
    assert first.record.updated_at == first.record.received_at
    assert second.created is False
    assert second.record == first.record
    assert await store.get_lead("lead-0001") == first.record


@pytest.mark.redis
async def test_claim_and_queue_queues_a_new_lead_once(redis_url: str, redis_prefix: str) -> None:
    """Twenty concurrent claims-and-queues of one lead store it once and add one stream entry;
    the repeats return the stored record and add nothing."""
    store = await RedisStore(redis_url, prefix=redis_prefix, record_ttl_s=RECORD_TTL_S).open()
    stream = f"{redis_prefix}stream"
    try:
        claims = await asyncio.gather(
            *(store.claim_and_queue(lead(8), stream, f"entry-{i}".encode()) for i in range(20))
        )
        entries = await store._redis.xrange(stream)
    finally:
        await store._redis.delete(stream)
        await store.close()

    created = [claim for claim in claims if claim.created]
    assert len(created) == 1
    assert all(claim.record == created[0].record for claim in claims)
    assert [fields for _, fields in entries] == [{"data": f"entry-{claims.index(created[0])}"}]


async def test_concurrent_claims_create_exactly_one(store: Store) -> None:
    """Twenty concurrent claims of one lead create it exactly once."""
    claims = await asyncio.gather(
        *(store.claim(lead(7, payload={"attempt": i})) for i in range(20))
    )

    created = [claim for claim in claims if claim.created]
    assert len(created) == 1
    assert all(claim.record == created[0].record for claim in claims)


async def test_get_lead_returns_none_when_absent(store: Store) -> None:
    """An unknown lead_id reads as None."""
    assert await store.get_lead("nope") is None


async def test_update_lead_merges_fields(store: Store) -> None:
    """update_lead changes only the given fields and stamps updated_at."""
    created = (await store.claim(lead(1))).record

    await store.update_lead("lead-0001", status="processing", owner="ann", attempts=1)

    updated = await store.get_lead("lead-0001")
    assert updated is not None
    assert (updated.status, updated.owner, updated.attempts) == ("processing", "ann", 1)
    assert updated.payload == created.payload
    assert updated.updated_at > created.updated_at


async def test_a_long_record_round_trips_and_stays_listed(store: Store) -> None:
    """A record long enough to be stored compressed (a compacted lead's steps) reads back
    whole, lists with the others and takes later updates."""
    await store.claim(lead(1))
    steps = [{"node": f"node-{n}", "lines": ["what it decided · " * 8], "ms": n} for n in range(40)]

    await store.update_lead("lead-0001", status="completed", owner="ann", steps=steps)
    await store.update_lead("lead-0001", action="book")

    stored = await store.get_lead("lead-0001")
    assert stored is not None and stored.steps == steps and stored.action == "book"
    [listed] = await store.list_leads(owner="ann")
    assert listed.steps == steps


async def test_update_lead_keeps_given_updated_at(store: Store) -> None:
    """An explicit updated_at is stored as given."""
    await store.claim(lead(1))

    await store.update_lead("lead-0001", updated_at="2030-01-01T00:00:00+00:00")

    updated = await store.get_lead("lead-0001")
    assert updated is not None
    assert updated.updated_at == "2030-01-01T00:00:00+00:00"


async def test_update_lead_rejects_unknown_field(store: Store) -> None:
    """An unknown field name raises ValueError and changes nothing."""
    await store.claim(lead(1))

    with pytest.raises(ValueError, match="colour"):
        await store.update_lead("lead-0001", status="failed", colour="red")

    unchanged = await store.get_lead("lead-0001")
    assert unchanged is not None
    assert unchanged.status == "queued"


async def test_update_lead_raises_key_error_when_absent(store: Store) -> None:
    """Updating a lead that does not exist raises KeyError."""
    with pytest.raises(KeyError):
        await store.update_lead("nope", status="failed")


async def test_list_leads_newest_first(store: Store) -> None:
    """list_leads orders by received_at, newest first, whatever the claim order."""
    for n in (3, 1, 4, 2):
        await store.claim(lead(n))

    listed = await store.list_leads()

    assert [record.lead_id for record in listed] == [
        "lead-0004",
        "lead-0003",
        "lead-0002",
        "lead-0001",
    ]


async def test_list_leads_filters_by_status_after_update(store: Store) -> None:
    """A status filter follows status changes made by update_lead."""
    for n in range(1, 5):
        await store.claim(lead(n))
    await store.update_lead("lead-0002", status="processing")
    await store.update_lead("lead-0004", status="processing")
    await store.update_lead("lead-0004", status="completed")

    processing = await store.list_leads(status="processing")
    queued = await store.list_leads(status="queued")
    completed = await store.list_leads(status="completed")

    assert [record.lead_id for record in processing] == ["lead-0002"]
    assert [record.lead_id for record in queued] == ["lead-0003", "lead-0001"]
    assert [record.lead_id for record in completed] == ["lead-0004"]


async def test_list_leads_filters_combine_with_and(store: Store) -> None:
    """status, owner and action filters must all match."""
    rows = [
        (1, "completed", "ann", "book"),
        (2, "completed", "ann", "nurture"),
        (3, "completed", "bob", "book"),
        (4, "failed", "ann", "book"),
        (5, "completed", "ann", "book"),
    ]
    for n, status, owner, action in rows:
        await store.claim(lead(n))
        await store.update_lead(f"lead-{n:04d}", status=status, owner=owner, action=action)

    both = await store.list_leads(owner="ann", action="book")
    all_three = await store.list_leads(status="completed", owner="ann", action="book")
    none = await store.list_leads(status="failed", owner="bob")

    assert [record.lead_id for record in both] == ["lead-0005", "lead-0004", "lead-0001"]
    assert [record.lead_id for record in all_three] == ["lead-0005", "lead-0001"]
    assert none == []


async def test_list_leads_pages_with_limit_and_offset(store: Store) -> None:
    """limit and offset page through the newest-first order without gaps or repeats."""
    for n in range(1, 8):
        await store.claim(lead(n, owner="ann"))

    pages = [await store.list_leads(limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    filtered = await store.list_leads(owner="ann", limit=2, offset=1)

    ids = [[record.lead_id for record in page] for page in pages]
    assert ids == [
        ["lead-0007", "lead-0006", "lead-0005"],
        ["lead-0004", "lead-0003", "lead-0002"],
        ["lead-0001"],
        [],
    ]
    assert [record.lead_id for record in filtered] == ["lead-0006", "lead-0005"]


async def test_expired_lead_is_gone_and_can_be_claimed_again(short_lived_store: Store) -> None:
    """An expired lead reads as absent, leaves every list, and a new claim starts it afresh."""
    store = short_lived_store
    await store.claim(lead(1))
    await store.update_lead("lead-0001", status="processing", owner="ann")

    async def expired() -> bool:
        return await store.get_lead("lead-0001") is None

    await eventually(expired)
    assert await store.list_leads() == []
    assert await store.list_leads(status="processing") == []

    again = await store.claim(lead(1))

    assert again.created is True
    assert await store.list_leads(status="processing") == []
    assert await store.list_leads(owner="ann") == []
    assert [record.lead_id for record in await store.list_leads(status="queued")] == ["lead-0001"]


# Leases


async def test_lease_excludes_second_token(store: Store) -> None:
    """A held lease cannot be acquired with another token."""
    assert await store.acquire_lease("lead:1", "t1", 10_000) is True
    assert await store.acquire_lease("lead:1", "t2", 10_000) is False
    assert await store.lease_holder("lead:1") == "t1"


async def test_lease_reacquire_by_holder_extends(store: Store) -> None:
    """The holder acquiring again succeeds and keeps the lease past its first TTL."""
    assert await store.acquire_lease("lead:1", "t1", 200) is True
    assert await store.acquire_lease("lead:1", "t1", 60_000) is True

    await asyncio.sleep(0.3)

    assert await store.lease_holder("lead:1") == "t1"


async def test_lease_renew_only_by_holder(store: Store) -> None:
    """renew_lease succeeds for the holder and fails for any other token."""
    await store.acquire_lease("lead:1", "t1", 10_000)

    assert await store.renew_lease("lead:1", "t2", 10_000) is False
    assert await store.renew_lease("lead:1", "t1", 10_000) is True
    assert await store.renew_lease("lead:free", "t1", 10_000) is False


async def test_lease_release_only_by_holder(store: Store) -> None:
    """release_lease deletes the lease only for its holder (compare-and-delete)."""
    await store.acquire_lease("lead:1", "t1", 10_000)

    assert await store.release_lease("lead:1", "t2") is False
    assert await store.lease_holder("lead:1") == "t1"
    assert await store.release_lease("lead:1", "t1") is True
    assert await store.lease_holder("lead:1") is None
    assert await store.acquire_lease("lead:1", "t2", 10_000) is True


async def test_lease_expiry_lets_another_take_it(store: Store) -> None:
    """Once a lease's TTL passes, another token can acquire it and the old one cannot renew."""
    assert await store.acquire_lease("lead:1", "t1", 200) is True

    async def free() -> bool:
        return await store.lease_holder("lead:1") is None

    await eventually(free)

    assert await store.acquire_lease("lead:1", "t2", 10_000) is True
    assert await store.renew_lease("lead:1", "t1", 10_000) is False
    assert await store.lease_holder("lead:1") == "t2"


# Weighted round robin


async def test_pick_weighted_is_idempotent_per_lead(store: Store) -> None:
    """A second pick for the same (pool, lead) repeats the first without counting again."""
    candidates = list(WEIGHTS.items())
    first = await store.pick_weighted("emea", "lead-1", candidates)
    again = await store.pick_weighted("emea", "lead-1", candidates)
    other_pool = await store.pick_weighted("us", "lead-1", candidates)

    assert first == RoundRobinPick("a", 1, {"a": 1}, repeated=False)
    assert (again.rep_id, again.sequence, again.repeated) == ("a", 1, True)
    assert (other_pool.sequence, other_pool.repeated) == (1, False)
    assert await store.pool_counts("emea") == {"a": 1}


async def test_pick_weighted_follows_weights_in_order(store: Store) -> None:
    """Picks go to the rep furthest below its weighted share, ties to the earliest listed."""
    candidates = list(WEIGHTS.items())

    picks = [await store.pick_weighted("p", f"lead-{n}", candidates) for n in range(8)]

    assert [pick.rep_id for pick in picks] == ["a", "a", "b", "c", "a", "a", "b", "c"]
    assert [pick.sequence for pick in picks] == list(range(1, 9))
    assert picks[-1].counts == {"a": 4, "b": 2, "c": 2}


async def test_pick_weighted_is_fair_under_concurrency(store: Store) -> None:
    """1,000 leads through 8 concurrent workers land within 1 of each weighted share, once."""
    candidates = list(WEIGHTS.items())
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in range(1000):
        queue.put_nowait(f"lead-{n}")
    picks: dict[str, RoundRobinPick] = {}

    async def worker() -> None:
        while not queue.empty():
            lead_id = queue.get_nowait()
            picks[lead_id] = await store.pick_weighted("fair", lead_id, candidates)

    await asyncio.gather(*(worker() for _ in range(8)))

    assert len(picks) == 1000
    assert not any(pick.repeated for pick in picks.values())
    assert sorted(pick.sequence for pick in picks.values()) == list(range(1, 1001))
    counts = await store.pool_counts("fair")
    assert counts == Counter(pick.rep_id for pick in picks.values())
    assert_fair(counts, 1000, WEIGHTS)


async def test_pick_weighted_honours_skipped_rep(store: Store) -> None:
    """A rep left out of the candidates gets nothing, then catches up when listed again."""
    for n in range(6):
        pick = await store.pick_weighted("p", f"lead-{n}", [("b", 1.0), ("c", 1.0)])
        assert pick.rep_id != "a"

    back = await store.pick_weighted("p", "lead-back", list(WEIGHTS.items()))

    assert back.rep_id == "a"
    assert back.counts == {"a": 1, "b": 3, "c": 3}


async def test_pick_weighted_rejects_empty_candidates(store: Store) -> None:
    """No candidates raises ValueError and assigns nothing."""
    with pytest.raises(ValueError):
        await store.pick_weighted("p", "lead-1", [])

    assert await store.pool_counts("p") == {}


# Cache


async def test_cache_set_then_get(store: Store) -> None:
    """cache_set stores a value that cache_get returns, replacing the previous one."""
    assert await store.cache_get("k") is None

    await store.cache_set("k", "v1", 60)
    await store.cache_set("k", "v2", 60)

    assert await store.cache_get("k") == "v2"


async def test_cache_entry_expires(store: Store) -> None:
    """A cached value reads as None once its TTL has passed."""
    await store.cache_set("k", "v", 1)
    assert await store.cache_get("k") == "v"

    async def gone() -> bool:
        return await store.cache_get("k") is None

    await eventually(gone)


async def test_cache_set_if_absent_keeps_first_value(store: Store) -> None:
    """set_if_absent returns the live value instead of replacing it, and stores when absent."""
    assert await store.cache_set_if_absent("k", "first", 60) == "first"
    assert await store.cache_set_if_absent("k", "second", 60) == "first"
    assert await store.cache_get("k") == "first"


async def test_cache_set_if_absent_replaces_expired_value(store: Store) -> None:
    """set_if_absent stores the new value once the old one has expired."""
    await store.cache_set("k", "old", 1)

    async def replaced() -> bool:
        return await store.cache_set_if_absent("k", "new", 60) == "new"

    await eventually(replaced)
    assert await store.cache_get("k") == "new"


# Receipts


async def test_receipt_first_write_wins(store: Store) -> None:
    """put_receipt keeps the first receipt of an effect and returns it to later writers."""
    assert await store.get_receipt("lead-1", "slack") is None

    first = await store.put_receipt("lead-1", "slack", {"ts": "1.0", "channel": "C1"})
    second = await store.put_receipt("lead-1", "slack", {"ts": "2.0", "channel": "C1"})
    other = await store.put_receipt("lead-1", "crm", {"id": 7})

    assert first == second == {"ts": "1.0", "channel": "C1"}
    assert await store.get_receipt("lead-1", "slack") == first
    assert other == {"id": 7}


async def test_receipts_of_a_lead_read_at_once(store: Store) -> None:
    """get_receipts returns every receipt of one lead by effect, and no other lead's."""
    assert await store.get_receipts("lead-1") == {}
    await store.put_receipt("lead-1", "crm.contact", {"id": "c1"})
    await store.put_receipt("lead-1", "rep.message", {"id": "m1"})
    await store.put_receipt("lead-2", "crm.contact", {"id": "c2"})

    assert await store.get_receipts("lead-1") == {
        "crm.contact": {"id": "c1"},
        "rep.message": {"id": "m1"},
    }


async def test_concurrent_receipts_store_one(store: Store) -> None:
    """Concurrent writers of one effect all get back the same single receipt."""
    stored = await asyncio.gather(
        *(store.put_receipt("lead-1", "email", {"attempt": i}) for i in range(10))
    )

    assert len({str(receipt) for receipt in stored}) == 1
    assert await store.get_receipt("lead-1", "email") == stored[0]


async def test_ping_answers_when_open(store: Store) -> None:
    """ping returns without error while the backend is reachable."""
    await store.ping()


# Factory


async def test_open_store_defaults_to_sqlite(tmp_path: Path) -> None:
    """Without REDIS_URL the factory opens SQLite in DATA_DIR, creating the folder."""
    settings = Settings.model_construct(data_dir=tmp_path / "data", redis_url=None)

    opened = await open_store(settings)
    try:
        assert isinstance(opened, SqliteStore)
        assert settings.sqlite_path.exists()
    finally:
        await opened.close()


@pytest.mark.redis
async def test_open_store_uses_redis_when_configured(redis_url: str, redis_prefix: str) -> None:
    """With REDIS_URL the factory opens Redis under REDIS_PREFIX."""
    settings = Settings.model_construct(redis_url=redis_url, redis_prefix=redis_prefix)

    opened = await open_store(settings)
    try:
        assert isinstance(opened, RedisStore)
        assert (await opened.claim(lead(1))).created is True
    finally:
        await opened.close()


# Several OS processes sharing one SQLite file


def _pick_in_process(
    path: str, index: int, lead_ids: list[str], barrier: Any, results: Any
) -> None:
    """Pick every lead (in this process's own order) against the shared file; report picks."""

    async def run() -> list[tuple[str, str, int, bool]]:
        store = await SqliteStore(Path(path), record_ttl_s=RECORD_TTL_S).open()
        try:
            order = list(lead_ids)
            random.Random(index).shuffle(order)
            barrier.wait()
            picks = []
            for lead_id in order:
                pick = await store.pick_weighted("shared", lead_id, list(WEIGHTS.items()))
                picks.append((lead_id, pick.rep_id, pick.sequence, pick.repeated))
            return picks
        finally:
            await store.close()

    results.put(asyncio.run(run()))


@pytest.mark.slow
async def test_sqlite_pick_weighted_across_processes(tmp_path: Path) -> None:
    """Four processes picking the same 400 leads assign each once, within 1 of each share."""
    path = tmp_path / "shared.sqlite3"
    lead_ids = [f"lead-{n}" for n in range(400)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_pick_in_process, args=(str(path), i, lead_ids, barrier, results))
        for i in range(4)
    ]
    for process in processes:
        process.start()
    try:
        picks = [pick for _ in processes for pick in await asyncio.to_thread(results.get, True, 60)]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)

    first_picks = {lead_id: (rep, seq) for lead_id, rep, seq, repeated in picks if not repeated}
    assert len(picks) == 1600
    assert len(first_picks) == 400 == sum(not repeated for *_, repeated in picks)
    assert all(first_picks[lead_id] == (rep, seq) for lead_id, rep, seq, _ in picks)
    assert sorted(seq for _, seq in first_picks.values()) == list(range(1, 401))
    store = await SqliteStore(path, record_ttl_s=RECORD_TTL_S).open()
    try:
        counts = await store.pool_counts("shared")
    finally:
        await store.close()
    assert counts == Counter(rep for rep, _ in first_picks.values())
    assert_fair(counts, 400, WEIGHTS)


# Outcomes


async def test_outcomes_are_listed_with_their_lead(store: Store) -> None:
    """Recorded outcomes come back, oldest first, each with its lead id."""
    assert await store.list_outcomes() == []
    await store.record_outcome("lead-1", {"outcome": "won", "value": 1200.0})
    await store.record_outcome("lead-2", {"outcome": "lost"})
    assert await store.list_outcomes() == [
        {"lead_id": "lead-1", "outcome": "won", "value": 1200.0},
        {"lead_id": "lead-2", "outcome": "lost"},
    ]


async def test_a_later_outcome_replaces_the_earlier(store: Store) -> None:
    """A lead has one current outcome: converted, then won, lists once as won."""
    await store.record_outcome("lead-1", {"outcome": "converted"})
    await store.record_outcome("lead-1", {"outcome": "won"})
    assert await store.list_outcomes() == [{"lead_id": "lead-1", "outcome": "won"}]


# Timers


async def test_due_timers_pop_once_in_due_order(store: Store) -> None:
    """Timers come out when due, earliest first, and only once."""
    await store.add_timer("sla:b", 200.0, {"lead_id": "b"})
    await store.add_timer("sla:a", 100.0, {"lead_id": "a"})
    await store.add_timer("sla:c", 900.0, {"lead_id": "c"})
    assert await store.pop_due_timers(50.0) == []
    due = await store.pop_due_timers(300.0)
    assert [(t["key"], t["payload"]["lead_id"]) for t in due] == [("sla:a", "a"), ("sla:b", "b")]
    assert await store.pop_due_timers(300.0) == []


async def test_scheduling_a_timer_twice_keeps_the_first(store: Store) -> None:
    """A timer key scheduled again keeps its first due time and payload."""
    await store.add_timer("sla:x", 100.0, {"hop": 0})
    await store.add_timer("sla:x", 50.0, {"hop": 9})
    assert await store.pop_due_timers(75.0) == []
    assert [t["payload"] for t in await store.pop_due_timers(150.0)] == [{"hop": 0}]


async def test_concurrent_pops_hand_each_timer_out_once(store: Store) -> None:
    """Eight concurrent pollers share 40 due timers without a repeat."""
    for i in range(40):
        await store.add_timer(f"t{i}", float(i), {"i": i})
    batches = await asyncio.gather(*(store.pop_due_timers(1000.0, limit=7) for _ in range(8)))
    keys = [t["key"] for batch in batches for t in batch]
    keys += [t["key"] for t in await store.pop_due_timers(1000.0)]
    assert sorted(keys) == sorted(f"t{i}" for i in range(40))
