"""Replaying leads through the current routing and scoring config, with no side effects.

Each lead runs through the graph's own capture → enrich → classify → score → route nodes against
a throwaway store and built-in CRM in a temporary directory, seeded like the service's, with the
real routing, scoring and accounts files. Nothing is booked, drafted, written to a CRM or sent,
and round-robin counters start from zero. `offline.backtest` replays a file of historical leads
with it; the console replays the service's recent leads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from domain.config import RoutingConfig, ScoringConfig
from domain.intake import LeadIn, idempotency_key, lead_id_for
from domain.normalize import normalize_lead, parse_timestamp
from domain.rules import data_gaps
from graph.builder import build_graph
from graph.context import Context
from graph.state import initial_state
from service.settings import Settings
from service.wiring import open_context
from tools.vector import LOCAL_FILENAME

LABELS: Final = ("team", "owner", "action")
DISTRIBUTIONS: Final = ("action", "rule", "method", "team", "rep")
NONE: Final = "(none)"
LISTED_MAX: Final = 100


@dataclass
class LeadRow:
    """One lead to replay: its payload and labels (the expected team, owner or action), or why
    it cannot be read; `line` says where it came from."""

    line: int
    payload: dict[str, Any] | None
    labels: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def check_payload(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(lead_id, None) for a payload the webhook accepts, else (None, why it is rejected)."""
    try:
        lead = LeadIn.model_validate(payload)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: "
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        ]
        return None, "; ".join(problems)
    key, _ = idempotency_key(None, payload, lead)
    return lead_id_for(key), None


# Replaying -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def throwaway_context(
    settings: Settings, scratch: Path, routing: RoutingConfig, scoring: ScoringConfig
) -> AsyncIterator[Context]:
    """A Context for replays: every backend it writes to is a fresh file in `scratch`.

    The CRM is seeded from the accounts and reps as the service seeds its own; the directory,
    account matcher, learned model and configs are the real ones. The similar-account memory
    is a copy of the local one (Pinecone is only queried). The HTTP enrichment provider is not
    called: a replay must not spend provider credits.
    """
    local = scratch_settings(settings, scratch)
    if not settings.pinecone_api_key:
        _copy_local_memory(settings.data_dir, scratch)
    async with contextlib.AsyncExitStack() as stack:
        yield (await open_context(local, stack, routing, scoring, live=False)).context


def _copy_local_memory(data_dir: Path, scratch: Path) -> None:
    """Copy the local similar-account memory (and its write-ahead log) into `scratch`.

    Only the files are read: opening them in place, even read-only, makes SQLite create its
    shared-memory file beside them.
    """
    source = data_dir / LOCAL_FILENAME
    if not source.is_file():
        return
    for suffix in ("", "-wal"):
        part = source.with_name(source.name + suffix)
        if part.is_file():
            shutil.copyfile(part, scratch / part.name)


def _fixed_clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _rule_key(routing: dict[str, Any]) -> str:
    method, rule = routing.get("method"), routing.get("rule")
    if method in {"existing_owner", "disqualified"} or not rule:
        return f"({method})"
    return f"{rule} → (fallback)" if method == "fallback" else str(rule)


def _catch_all(state: dict[str, Any], cfg: RoutingConfig) -> str | None:
    """Why a lead reached the catch-all (a rule without conditions) or the fallback: the data
    the rules before it needed and the lead lacked; None for a lead routed by anything else."""
    routing = state.get("routing", {})
    rule_id, method = routing.get("rule"), routing.get("method")
    rule = next((r for r in cfg.rules if r.id == rule_id), None)
    if not (method == "fallback" or (rule is not None and not rule.when)):
        return None
    gaps = data_gaps(cfg.rules, state, rule_id)
    return ", ".join(gaps) if gaps else "data complete, no earlier rule fits"


def _actual(routing: dict[str, Any]) -> dict[str, str]:
    return {
        "team": routing.get("team") or routing.get("queue") or NONE,
        "owner": routing.get("owner") or NONE,
        "action": routing.get("action") or NONE,
    }


def _label_value(label: str, value: str, cfg: RoutingConfig) -> str:
    """A label in the form routing uses: a known id whatever its case, a rep by email or id."""
    if label == "action":
        return value.lower()
    if label == "owner":
        rep = cfg.rep_by_email(value) if "@" in value else None
        if rep:
            return rep.id
        ids = [r.id for r in cfg.reps]
    else:
        ids = [t.id for t in cfg.teams] + [q.id for q in cfg.queues]
    return next((known for known in ids if known.lower() == value.lower()), value)


async def replay(
    rows: list[LeadRow],
    settings: Settings,
    scratch: Path,
    routing: RoutingConfig,
    scoring: ScoringConfig,
) -> tuple[list[dict[str, Any]], float, dict[str, str]]:
    """Route each row: one outcome per row (`routed`, `invalid`, `duplicate` or `failed`),
    the seconds the routing took, and what the decisions rested on."""
    outcomes: list[dict[str, Any]] = []
    replay_at = datetime.now(UTC).isoformat()
    seen: dict[str, int] = {}
    pipeline = build_graph(checkpointer=None, max_attempts=1, decisions_only=True)
    async with throwaway_context(settings, scratch, routing, scoring) as context:
        inputs = {
            "scoring": (
                f"learned model {context.model.version}"
                if context.model
                else f"rules {scoring.model_version}"
            ),
            "similar_accounts": (
                "pinecone (queried)"
                if settings.pinecone_api_key
                else "local memory (a copy)"
                if (settings.data_dir / LOCAL_FILENAME).is_file()
                else "empty local memory"
            ),
            "http_enrichment": "not called" if settings.enrichment_url else "not configured",
        }
        # Build the suffix-list and phone tables now rather than during the first lead.
        normalize_lead({"email": "warm@up.co.uk", "phone": "+44 20 7946 0958", "country": "UK"})
        started = time.perf_counter()
        for row in rows:
            base: dict[str, Any] = {"line": row.line, "labels": row.labels}
            if row.payload is None:
                outcomes.append({**base, "kind": "invalid", "reason": row.problem})
                continue
            payload = row.payload
            base["email"] = str(payload.get("email") or "")[:254]
            lead_id, problem = check_payload(payload)
            if lead_id is None:
                outcomes.append({**base, "kind": "invalid", "reason": problem})
                continue
            if lead_id in seen:
                outcomes.append({**base, "kind": "duplicate", "of_line": seen[lead_id]})
                continue
            seen[lead_id] = row.line
            received = parse_timestamp(payload.get("submitted_at")) or replay_at
            source = str(payload.get("source") or payload.get("form_id") or "api")
            state = initial_state(lead_id, received, source, payload)
            clock = _fixed_clock(datetime.fromisoformat(received))
            try:
                final = await pipeline.ainvoke(
                    state, context=dataclasses.replace(context, clock=clock)
                )
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"[:500]
                outcomes.append({**base, "kind": "failed", "reason": reason})
                continue
            decision = final.get("routing", {})
            outcomes.append(
                {
                    **base,
                    "kind": "routed",
                    "action": decision.get("action") or NONE,
                    "rule": _rule_key(decision),
                    "method": decision.get("method") or NONE,
                    "team": decision.get("team") or decision.get("queue") or NONE,
                    "rep": decision.get("owner") or NONE,
                    "actual": _actual(decision),
                    "catch_all": _catch_all(final, routing),
                }
            )
        elapsed = time.perf_counter() - started
    return outcomes, elapsed, inputs


# Summarizing -----------------------------------------------------------------------------------


def _distribution(values: list[str]) -> dict[str, dict[str, float]]:
    counts = Counter(values)
    total = len(values)
    return {
        key: {"count": n, "pct": round(100 * n / total, 1)}
        for key, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    }


def summarize(
    outcomes: list[dict[str, Any]], cfg: RoutingConfig, elapsed_s: float
) -> dict[str, Any]:
    """Totals, distributions, accuracy and confusion per label, listings and speed."""
    routed = [o for o in outcomes if o["kind"] == "routed"]
    caught = [o["catch_all"] for o in routed if o["catch_all"]]
    kinds = Counter(o["kind"] for o in outcomes)
    accuracy: dict[str, dict[str, Any]] = {}
    confusion: dict[str, dict[str, dict[str, int]]] = {}
    mismatches: list[dict[str, Any]] = []
    for label in LABELS:
        pairs = [
            (o, _label_value(label, o["labels"][label], cfg), o["actual"][label])
            for o in routed
            if label in o["labels"]
        ]
        if not pairs:
            continue
        correct = sum(expected == actual for _, expected, actual in pairs)
        accuracy[label] = {
            "labelled": len(pairs),
            "correct": correct,
            "accuracy": round(correct / len(pairs), 4),
        }
        table: dict[str, Counter[str]] = {}
        for outcome, expected, actual in pairs:
            table.setdefault(expected, Counter())[actual] += 1
            if expected != actual:
                mismatches.append(
                    {
                        "line": outcome["line"],
                        "email": outcome["email"],
                        "label": label,
                        "expected": expected,
                        "actual": actual,
                        "rule": outcome["rule"],
                    }
                )
        confusion[label] = {
            expected: dict(sorted(row.items())) for expected, row in sorted(table.items())
        }
    mismatches.sort(key=lambda m: (m["line"], LABELS.index(m["label"])))

    def listed(kind: str, *keys: str) -> list[dict[str, Any]]:
        rows = [o for o in outcomes if o["kind"] == kind]
        return [{k: o.get(k) for k in ("line", *keys)} for o in rows[:LISTED_MAX]]

    return {
        "totals": {
            "rows": len(outcomes),
            "valid": kinds["routed"] + kinds["duplicate"] + kinds["failed"],
            "routed": kinds["routed"],
            "duplicates": kinds["duplicate"],
            "invalid": kinds["invalid"],
            "failed": kinds["failed"],
        },
        "distribution": {name: _distribution([o[name] for o in routed]) for name in DISTRIBUTIONS},
        "catch_all": {
            "count": len(caught),
            "pct": round(100 * len(caught) / len(routed), 1) if routed else 0.0,
            "why": _distribution(caught),
        },
        "accuracy": accuracy,
        "confusion": confusion,
        "mismatches": mismatches[:LISTED_MAX],
        "invalid": listed("invalid", "email", "reason"),
        "duplicates": listed("duplicate", "email", "of_line"),
        "failed": listed("failed", "email", "reason"),
        "listed_max": LISTED_MAX,
        "speed": {
            "seconds": round(elapsed_s, 3),
            "leads_per_s": round(len(routed) / elapsed_s, 1) if elapsed_s > 0 else None,
        },
    }


def scratch_settings(settings: Settings, data_dir: Path) -> Settings:
    """`settings` with every embedded backend in `data_dir` and no production backend."""
    return settings.model_copy(
        update={
            "data_dir": data_dir,
            "redis_url": None,
            "queue_url": None,
            "database_url": None,
            "model_path": settings.current_model_path,
        }
    )
