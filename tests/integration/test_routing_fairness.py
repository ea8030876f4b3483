"""Weighted round-robin RevOps can trust, on SQLite and on a real Redis alike: fair shares
under concurrency, each lead assigned once, skips with their reasons, and the fallback."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.config import RoutingConfig, Team, load_routing
from graph.nodes.route import assign_from_pool
from service.wiring import Overrides, open_services
from tests.helpers import ROOT, lead_payload, lead_state, make_settings, submit
from tools.ports import Store
from tools.store_redis import RedisStore
from tools.store_sqlite import SqliteStore

# A Wednesday: 10:00 in London, 19:00 in Tokyo.
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
WEIGHTS = {"a": 3, "b": 2, "c": 1}
LEADS = 1000
WORKERS = 8

ROUTING_YAML = """
version: 1
reps:
  - {id: a, name: Ada, email: a@example.com, weight: 3}
  - {id: b, name: Bo, email: b@example.com, weight: 2}
  - {id: c, name: Cy, email: c@example.com, weight: 1}
  - {id: x, name: Xia, email: x@example.com, capacity_per_day: 2}
  - {id: y, name: Yun, email: y@example.com}
  - {id: t, name: Taro, email: t@example.com, timezone: Asia/Tokyo, working_hours: "09:00-17:00"}
  - {id: l, name: Lou, email: l@example.com, timezone: Europe/London, working_hours: "09:00-17:30"}
teams:
  - {id: weighted, pool: [a, b, c]}
  - {id: capped, pool: [x, y]}
  - {id: office-hours, pool: [t, l], respect_working_hours: true}
"""


@pytest.fixture
def routing(tmp_path: Path) -> RoutingConfig:
    """The test's routing.yaml, loaded and validated as the service loads it."""
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING_YAML, encoding="utf-8")
    return load_routing(path)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any]:
    """Which store to open: a fresh SQLite file, or Redis under this test's own key prefix."""
    if request.param == "sqlite":
        return "sqlite", tmp_path / "store.sqlite3"
    return "redis", (request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))


@pytest.fixture
async def store(backend: tuple[str, Any]) -> AsyncIterator[Store]:
    """An open store of the parametrized backend, closed afterwards."""
    kind, where = backend
    opened: Store
    if kind == "sqlite":
        opened = await SqliteStore(where, record_ttl_s=3600).open()
    else:
        url, prefix = where
        opened = await RedisStore(url, prefix=prefix, record_ttl_s=3600).open()
    yield opened
    await opened.close()


async def pick_concurrently(
    team: Team, routing: RoutingConfig, store: Store, lead_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Route `lead_ids` through `assign_from_pool` with WORKERS concurrent workers."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for lead_id in lead_ids:
        queue.put_nowait(lead_id)
    picks: dict[str, dict[str, Any]] = {}

    async def worker() -> None:
        while not queue.empty():
            lead_id = queue.get_nowait()
            picks[lead_id] = await assign_from_pool(team, routing, store, NOW, lead_id)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return picks


def first_assignment(pick: dict[str, Any]) -> tuple[str, int]:
    """The rep and round-robin sequence a pick assigned."""
    return pick["rep"], pick["round_robin"]["sequence"]


async def test_a_thousand_leads_through_eight_workers_are_fair_and_assigned_once(
    store: Store, routing: RoutingConfig
) -> None:
    """1,000 leads via 8 concurrent workers: each rep within 1 of its weighted share, each lead
    assigned once (a repeat pick returns the same rep), sequences 1..1000 without a gap."""
    team = routing.team("weighted")
    lead_ids = [f"lead-{n:04d}" for n in range(LEADS)]

    picks = await pick_concurrently(team, routing, store, lead_ids)

    assert len(picks) == LEADS
    counts = Counter(pick["rep"] for pick in picks.values())
    total_weight = sum(WEIGHTS.values())
    for rep_id, weight in WEIGHTS.items():
        share = LEADS * weight / total_weight
        assert abs(counts[rep_id] - share) <= 1, (rep_id, dict(counts), share)
    sequences = sorted(pick["round_robin"]["sequence"] for pick in picks.values())
    assert sequences == list(range(1, LEADS + 1))
    assert await store.pool_counts("team:weighted") == counts
    assert await store.pool_counts(f"day:{NOW.date().isoformat()}") == counts

    again = await pick_concurrently(team, routing, store, lead_ids[::-1])

    assert {lead_id: first_assignment(pick) for lead_id, pick in again.items()} == {
        lead_id: first_assignment(pick) for lead_id, pick in picks.items()
    }
    assert await store.pool_counts("team:weighted") == counts


async def test_a_rep_at_daily_capacity_is_skipped_with_the_reason(
    store: Store, routing: RoutingConfig
) -> None:
    """Once Xia has her 2 leads of the day she is skipped "at capacity" and Yun gets the rest."""
    team = routing.team("capped")
    picks = [await assign_from_pool(team, routing, store, NOW, f"cap-{n}") for n in range(5)]

    assert [pick["rep"] for pick in picks] == ["x", "y", "x", "y", "y"]
    assert picks[2]["skipped"] == []
    for pick in picks[3:]:
        assert pick["skipped"] == [{"rep": "x", "reason": "at capacity (2/2 today)"}]
        assert pick["candidates"] == ["y"]


async def test_capacity_counts_per_day(store: Store, routing: RoutingConfig) -> None:
    """A rep at capacity today is a candidate again the next day."""
    team = routing.team("capped")
    for n in range(4):
        await assign_from_pool(team, routing, store, NOW, f"cap-{n}")

    tomorrow = await assign_from_pool(team, routing, store, NOW + timedelta(days=1), "cap-next")

    assert tomorrow["skipped"] == []
    assert tomorrow["candidates"] == ["x", "y"]


async def test_a_team_that_respects_hours_skips_a_rep_after_hours(
    store: Store, routing: RoutingConfig
) -> None:
    """At 10:00 UTC Taro in Tokyo (19:00) is skipped with the reason; Lou in London gets it."""
    team = routing.team("office-hours")
    pick = await assign_from_pool(team, routing, store, NOW, "late-1")

    assert pick["rep"] == "l"
    assert pick["skipped"] == [
        {"rep": "t", "reason": "outside working hours (Wed 19:00 Asia/Tokyo)"}
    ]


async def test_a_team_without_hours_ignores_the_clock(store: Store, routing: RoutingConfig) -> None:
    """A team that does not ask for working hours routes to a rep whose day is over."""
    team = routing.team("weighted")
    night = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    pick = await assign_from_pool(team, routing, store, night, "night-1")

    assert pick["rep"] == "a"
    assert pick["skipped"] == []


async def test_nobody_available_returns_no_rep_and_every_skip(
    store: Store, routing: RoutingConfig
) -> None:
    """On a Sunday the office-hours team has nobody; both skips are returned, nothing counted."""
    team = routing.team("office-hours")
    sunday = datetime(2026, 3, 8, 10, 0, tzinfo=UTC)
    pick = await assign_from_pool(team, routing, store, sunday, "sunday-1")

    assert pick["rep"] is None
    assert [skip["rep"] for skip in pick["skipped"]] == ["t", "l"]
    assert all("outside working hours (Sun" in skip["reason"] for skip in pick["skipped"])
    assert await store.pool_counts("team:office-hours") == {}


# The route node, through the graph


def routing_with_pool_away(tmp_path: Path, day: str) -> Path:
    """The shipped routing.yaml with every rep of the EMEA enterprise pool out on `day`."""
    data = yaml.safe_load((ROOT / "infra" / "routing.yaml").read_text(encoding="utf-8"))
    pool = next(team["pool"] for team in data["teams"] if team["id"] == "emea-enterprise")
    for rep in data["reps"]:
        if rep["id"] in pool:
            rep["out_of_office"] = [day]
    path = tmp_path / "routing-away.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


async def test_when_the_whole_pool_is_away_the_lead_goes_to_the_fallback(tmp_path: Path) -> None:
    """An EMEA enterprise lead whose pool is all out of office is routed by the fallback, and the
    decision names the matched rule and every skipped rep with its reason."""
    away = routing_with_pool_away(tmp_path, NOW.date().isoformat())
    settings = make_settings(tmp_path, ROUTING_CONFIG=away)
    async with open_services(settings, Overrides(clock=lambda: NOW)) as services:
        lead_id = await submit(services, lead_payload())

        assert await services.runner.process(lead_id) == "completed"

        routing = (await lead_state(services, lead_id))["routing"]
        fallback = services.context.routing.team("inside-sales")
        assert routing["method"] == "fallback"
        assert routing["rule"] == "emea-enterprise"
        assert routing["skipped"] == [
            {"rep": "ana", "reason": "out of office on 2026-03-04"},
            {"rep": "ben", "reason": "out of office on 2026-03-04"},
        ]
        assert routing["team"] == fallback.id
        assert routing["owner"] in fallback.pool
        assert routing["round_robin"]["pool"] == fallback.id
        record = await services.store.get_lead(lead_id)
        assert record and record.owner == routing["owner"]
