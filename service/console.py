"""What the operations console shows, as plain data: the lead list, one lead's story, the
dashboard's figures, the routing config and a backtest of it over recent leads.

Everything here is read from what the service already keeps: the lead records, each lead's
graph state and checkpoint history, the outbox, the round-robin counters and the loaded
routing config. The console's templates only lay these out.
"""

from __future__ import annotations

import statistics
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

from domain.config import Rule, Target
from domain.records import DecisionRecord
from domain.rep_message import lead_message
from graph.nodes.route import team_pool
from service.errors import NotFound
from service.replay import LeadRow, replay, summarize
from service.runner import thread_config
from service.steps import lead_steps
from service.wiring import Services
from tools.ports import LeadRecord

PAGE_SIZE: Final = 25
SCAN_BATCH: Final = 500
SCAN_MAX: Final = 5000  # records a search or grade filter looks through, newest first
DASHBOARD_LEADS: Final = 1000  # the dashboard's figures are over this many recent leads
BACKTEST_LEADS: Final = 200
STATUSES: Final = ("queued", "processing", "completed", "failed")
ACTIONS: Final = ("book", "draft", "nurture", "support", "disqualify")
GRADES: Final = ("A", "B", "C", "D")

# What each step reads from the record (DESIGN §1); the decision is what it wrote.
READS: Final[dict[str, tuple[str, ...]]] = {
    "capture": ("raw payload",),
    "enrich": ("lead",),
    "classify": ("lead", "enrichment"),
    "score": ("lead", "enrichment", "classification"),
    "route": ("lead", "enrichment", "classification", "score"),
    "book": ("lead", "routing"),
    "draft": ("lead", "enrichment", "routing", "booking"),
    "nurture": ("lead", "classification", "routing"),
    "notify": ("the whole record",),
    "assist": ("lead", "enrichment", "routing"),
    "wait_for_rep": ("the rep's decision",),
    "reassign": ("routing", "the rep's decision"),
    "accept": ("routing", "the rep's decision"),
    "not_a_fit": ("routing", "the rep's decision"),
    "classify_reply": ("the reply",),
}


@dataclass(frozen=True)
class LeadFilter:
    """What the lead list is narrowed to; None (or empty) leaves a field open."""

    status: str | None = None
    action: str | None = None
    owner: str | None = None
    grade: str | None = None
    q: str | None = None

    def matches(self, record: LeadRecord) -> bool:
        """Whether the record passes the filters the store does not apply (grade, search)."""
        if self.grade and record.grade != self.grade:
            return False
        if self.q:
            needle = self.q.strip().lower()
            return needle in record.email.lower() or needle in record.company.lower()
        return True

    def as_query(self) -> dict[str, str]:
        """The filters that are set, as query parameters."""
        fields = ("status", "action", "owner", "grade", "q")
        return {name: value for name in fields if (value := getattr(self, name))}


async def _values(services: Services, lead_id: str) -> dict[str, Any]:
    snapshot = await services.graph.aget_state(thread_config(lead_id))
    return dict(snapshot.values or {})


def _row(record: LeadRecord, state: dict[str, Any]) -> dict[str, Any]:
    routing = state.get("routing") or {}
    score = state.get("score") or {}
    classification = state.get("classification") or {}
    deliveries = state.get("deliveries") or {}
    repeat_of = (state.get("capture") or {}).get("duplicate_of") or routing.get("repeat_of")
    summary = record.summary()
    return {
        **summary,
        "name": (state.get("lead") or {}).get("full_name"),
        "score": score.get("total"),
        "grade": score.get("grade") or record.grade or None,
        "intent": classification.get("intent"),
        "team": routing.get("team"),
        "queue": routing.get("queue") if routing else summary["queue"],
        "owner": routing.get("owner") if routing else summary["owner"],
        "action": routing.get("action") or record.action or None,
        "ms_to_notify": deliveries.get("ms_to_notify"),
        "repeat_of": repeat_of,
        "failed_at": (record.error or {}).get("node"),
    }


async def lead_page(services: Services, filters: LeadFilter, page: int = 0) -> dict[str, Any]:
    """One page of leads, newest first, each with its score, intent, owner or queue and time
    to notify; `has_more` when a next page exists, `scan_capped` when a search stopped after
    the newest SCAN_MAX records."""
    store = services.store
    page = max(page, 0)
    start, wanted = page * PAGE_SIZE, PAGE_SIZE + 1
    given = {"status": filters.status, "owner": filters.owner, "action": filters.action}
    scan_capped = False
    if not (filters.grade or filters.q):
        records = await store.list_leads(**given, limit=wanted, offset=start)
    else:
        matched: list[LeadRecord] = []
        offset = 0
        while len(matched) < start + wanted:
            batch = await store.list_leads(**given, limit=SCAN_BATCH, offset=offset)
            matched += [r for r in batch if filters.matches(r)]
            offset += len(batch)
            if len(batch) < SCAN_BATCH:
                break
            if offset >= SCAN_MAX:
                scan_capped = True
                break
        records = matched[start : start + wanted]
    rows = [_row(r, await _values(services, r.lead_id)) for r in records[:PAGE_SIZE]]
    return {
        "rows": rows,
        "page": page,
        "has_more": len(records) > PAGE_SIZE,
        "scan_capped": scan_capped,
        "scan_max": SCAN_MAX,
    }


def owners(services: Services) -> list[dict[str, str]]:
    """The reps a lead can be filtered by: id and name."""
    return [{"id": rep.id, "name": rep.name} for rep in services.context.routing.reps]


# One lead -------------------------------------------------------------------------------------


async def timeline(services: Services, lead_id: str) -> list[dict[str, Any]]:
    """Every step the lead went through, oldest first: node, when it finished, its duration,
    what it read, what it decided and the keys it wrote (`service.steps`)."""
    record = await services.store.get_lead(lead_id)
    steps = await lead_steps(services.graph, lead_id, record.steps if record else None)
    return [
        {
            **{k: v for k, v in step.items() if k != "checkpoint_id"},
            "reads": READS.get(step["node"], ()),
        }
        for step in steps
    ]


def _bars(contributions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each score contribution with its bar: width as a share of the largest, and its sign."""
    largest = max((abs(float(c["points"])) for c in contributions), default=0.0) or 1.0
    order = {"fit": 0, "intent": 1, "timing": 2, "prior": 3, "learned": 4, "bounds": 5}
    ranked = sorted(
        contributions, key=lambda c: (order.get(c["component"], 9), -abs(float(c["points"])))
    )
    return [{**c, "width": round(100 * abs(float(c["points"])) / largest, 1)} for c in ranked]


def _receipts(deliveries: dict[str, Any]) -> list[dict[str, Any]]:
    """The side effects written for the lead, each with the fields of its receipt."""
    out = []
    for effect, receipt in deliveries.items():
        if not isinstance(receipt, dict):
            continue
        kind = effect.split(".")[0]
        out.append({"effect": effect, "kind": kind, "fields": receipt})
    out.sort(key=lambda r: (r["kind"] != "crm", r["effect"]))
    return out


async def lead_view(services: Services, lead_id: str) -> dict[str, Any]:
    """Everything the lead page shows. Raises `NotFound` for an unknown lead."""
    record = await services.store.get_lead(lead_id)
    if record is None:
        raise NotFound(f"no lead {lead_id}")
    snapshot = await services.graph.aget_state(thread_config(lead_id))
    state = dict(snapshot.values or {})
    routing = state.get("routing") or {}
    score = state.get("score") or {}
    waiting = "wait_for_rep" in snapshot.next
    messages = await services.outbox.list(limit=20, lead_id=lead_id) if services.outbox else []
    record_state = cast(DecisionRecord, state)
    message = (
        lead_message(record_state, services.context.routing, base_url=services.settings.public_url)
        if routing
        else None
    )
    return {
        "record": _row(record, state),
        "error": record.error,
        "payload": record.payload,
        "state": state,
        "lead": state.get("lead") or {},
        "enrichment": state.get("enrichment") or {},
        "classification": state.get("classification") or {},
        "score": score,
        "bars": _bars(score.get("contributions", [])),
        "routing": routing,
        "booking": state.get("booking"),
        "draft": state.get("draft"),
        "nurture": state.get("nurture"),
        "rep_message": message,
        "messages": list(reversed(messages)),
        "receipts": _receipts(state.get("deliveries") or {}),
        "errors": state.get("errors") or [],
        "rep_log": routing.get("log", []),
        "replies": state.get("replies") or [],
        "timeline": await timeline(services, lead_id),
        "waiting": waiting,
        "next": list(snapshot.next),
        "can_retry": record.status == "failed",
        "can_decide": waiting and record.status == "completed",
    }


# Dashboard ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """The q-th quantile (0–1) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def _parse(ts: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _shares(counts: dict[str, int]) -> list[dict[str, Any]]:
    total = sum(counts.values()) or 1
    largest = max(counts.values(), default=0) or 1
    return [
        {
            "key": key,
            "count": n,
            "pct": round(100 * n / total, 1),
            "width": round(100 * n / largest, 1),
        }
        for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


async def fairness(services: Services) -> list[dict[str, Any]]:
    """Per team: each rep's round-robin picks against the share its weight asks for."""
    cfg = services.context.routing
    weights = {rep.id: rep.weight for rep in cfg.reps}
    teams = []
    for team in cfg.teams:
        counts = await services.store.pool_counts(team_pool(team.id))
        total = sum(counts.values())
        weight_sum = sum(weights.get(r, 1.0) for r in team.pool) or 1.0
        reps = []
        for rep in team.pool:
            target = 100 * weights.get(rep, 1.0) / weight_sum
            actual = 100 * counts.get(rep, 0) / total if total else 0.0
            reps.append(
                {
                    "rep": rep,
                    "weight": weights.get(rep, 1.0),
                    "picks": counts.get(rep, 0),
                    "target_pct": round(target, 1),
                    "actual_pct": round(actual, 1),
                    "gap": round(actual - target, 1) if total else None,
                }
            )
        teams.append({"team": team.id, "picks": total, "reps": reps})
    return teams


async def dashboard(services: Services, now: datetime | None = None) -> dict[str, Any]:
    """The dashboard's figures over the newest DASHBOARD_LEADS leads: leads per hour over the
    last day, the action mix, time to notify, time per node, failures and fairness."""
    now = now or services.context.clock()
    records = await services.store.list_leads(limit=DASHBOARD_LEADS)
    hours = [
        now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=h)
        for h in range(23, -1, -1)
    ]
    per_hour = dict.fromkeys(hours, 0)
    statuses: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    notify_ms: list[float] = []
    node_ms: dict[str, list[float]] = {}
    failures: Counter[str] = Counter()
    failed: list[dict[str, Any]] = []
    for record in records:
        statuses[record.status] += 1
        if record.action:
            actions[record.action] += 1
        received = _parse(record.received_at)
        if received is not None:
            bucket = received.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            if bucket in per_hour:
                per_hour[bucket] += 1
        if record.status == "failed":
            node = (record.error or {}).get("node") or "unknown"
            failures[node] += 1
            if len(failed) < 10:
                failed.append(record.summary())
        state = await _values(services, record.lead_id)
        ms = (state.get("deliveries") or {}).get("ms_to_notify")
        if ms is not None:
            notify_ms.append(float(ms))
        for node, timing in (state.get("timings") or {}).items():
            node_ms.setdefault(node, []).append(float(timing["ms"]))
        for error in state.get("errors") or []:
            failures[f"{error.get('node')} · {error.get('tool')} (went on)"] += 1
    peak = max(per_hour.values(), default=0) or 1
    slowest = max((statistics.fmean(v) for v in node_ms.values()), default=0.0) or 1.0
    return {
        "leads": len(records),
        "window": DASHBOARD_LEADS,
        "per_hour": [
            {"hour": hour, "count": n, "height": round(100 * n / peak, 1)}
            for hour, n in per_hour.items()
        ],
        "last_day": sum(per_hour.values()),
        "statuses": {s: statuses.get(s, 0) for s in STATUSES},
        "actions": _shares(dict(actions)),
        "notify": {
            "count": len(notify_ms),
            "p50": percentile(notify_ms, 0.5),
            "p95": percentile(notify_ms, 0.95),
            "max": max(notify_ms, default=None),
        },
        "nodes": [
            {
                "node": node,
                "runs": len(values),
                "mean": statistics.fmean(values),
                "p95": percentile(values, 0.95),
                "width": round(100 * statistics.fmean(values) / slowest, 1),
            }
            for node, values in node_ms.items()
        ],
        "failures": _shares(dict(failures)),
        "failed": failed,
        "fairness": await fairness(services),
    }


# Routing --------------------------------------------------------------------------------------


OPERATORS: Final = {
    "equals": "is",
    "in": "is one of",
    "not_in": "is none of",
    "gte": "≥",
    "lte": "≤",
    "gt": ">",
    "lt": "<",
    "regex": "matches",
}


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,g}"
    return str(value)


def _condition(path: str, test: Any) -> str:
    """A rule's condition as a sentence: `enrichment.company.employees ≥ 1,000`."""
    ops = test if isinstance(test, dict) else {"equals": test}
    parts = []
    for op, value in ops.items():
        if op == "exists":
            parts.append(f"{path} {'is present' if value else 'is missing'}")
        else:
            parts.append(f"{path} {OPERATORS.get(op, op)} {_shown(value)}")
    return " and ".join(parts)


def _target(target: Target | None) -> str:
    if target is None:
        return "—"
    if target.rep:
        return f"rep {target.rep}"
    if target.team:
        return f"team {target.team}"
    return f"queue {target.queue}"


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "conditions": [_condition(path, test) for path, test in rule.when.items()],
        "assign": _target(rule.assign),
        "ignore_ownership": rule.ignore_ownership,
    }


def routing_table(services: Services) -> dict[str, Any]:
    """The routing config this process runs: reps, teams, queues, rules and the fallback."""
    cfg = services.context.routing
    return {
        "path": str(services.settings.routing_config),
        "reps": [rep.model_dump() for rep in cfg.reps],
        "teams": [team.model_dump() for team in cfg.teams],
        "queues": [queue.model_dump() for queue in cfg.queues],
        "rules": [_rule(rule) for rule in cfg.rules],
        "fallback": _target(cfg.fallback),
        "ownership": cfg.ownership.model_dump(),
    }


async def backtest(services: Services, limit: int = BACKTEST_LEADS) -> dict[str, Any]:
    """Replay the newest `limit` leads through the routing and scoring config this process
    runs, with no side effects, and compare each team or queue and action with the one
    recorded when the lead was routed (before any rep's decision)."""
    records = await services.store.list_leads(limit=limit)
    rows: list[LeadRow] = []
    ids: dict[int, str] = {}
    for line, record in enumerate(records, 1):
        routing = (await _values(services, record.lead_id)).get("routing") or {}
        labels = {}
        team = routing.get("team") or routing.get("queue")
        action = routing.get("previous_action") or routing.get("action")
        if team:
            labels["team"] = str(team)
        if action:
            labels["action"] = str(action)
        payload = {"submitted_at": record.received_at, **record.payload}
        rows.append(LeadRow(line, payload, labels))
        ids[line] = record.lead_id
    cfg = services.context.routing
    with tempfile.TemporaryDirectory(prefix="lead-router-console-backtest-") as scratch:
        outcomes, elapsed, inputs = await replay(
            rows, services.settings, Path(scratch), cfg, services.context.scoring
        )
    summary = summarize(outcomes, cfg, elapsed)
    changes = [
        {**m, "lead_id": ids.get(m["line"])} for m in summary["mismatches"] if m["label"] != "owner"
    ]
    return {**summary, "inputs": inputs, "changes": changes, "replayed": len(rows)}
