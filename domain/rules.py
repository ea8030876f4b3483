"""Evaluate `routing.yaml` conditions against a lead's state (dotted paths, small operators)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.config import Rule
from domain.records import RuleTried

_MISSING = object()


def get_path(data: Any, dotted: str) -> Any:
    """The value at a dotted path (`enrichment.company.region`), or a missing marker."""
    current = data
    for part in dotted.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _holds(op: str, expected: Any, actual: Any) -> bool:
    if op == "exists":
        return (actual is not _MISSING and actual not in (None, "")) == bool(expected)
    if actual is _MISSING or actual is None:
        return op == "not_in"
    if op == "equals":
        return bool(_norm(actual) == _norm(expected))
    if op == "in":
        return _norm(actual) in {_norm(v) for v in expected}
    if op == "not_in":
        return _norm(actual) not in {_norm(v) for v in expected}
    if op == "regex":
        return re.search(str(expected), str(actual), re.IGNORECASE) is not None
    try:
        a, e = float(actual), float(expected)
    except (TypeError, ValueError):
        return False
    return {"gte": a >= e, "lte": a <= e, "gt": a > e, "lt": a < e}[op]


def evaluate(rule: Rule, state: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """Whether every condition of the rule holds, and a line per condition saying why."""
    notes: list[str] = []
    ok = True
    for path, cond in rule.when.items():
        ops = cond if isinstance(cond, dict) else {"equals": cond}
        actual = get_path(state, path)
        shown = "missing" if actual is _MISSING else repr(actual)
        for op, expected in ops.items():
            holds = _holds(op, expected, actual)
            notes.append(f"{path} {op} {expected!r}: {shown} → {'yes' if holds else 'no'}")
            ok = ok and holds
    return ok, notes


def first_match(rules: list[Rule], state: Mapping[str, Any]) -> tuple[Rule | None, list[RuleTried]]:
    """The first rule whose conditions all hold, and the trace of every rule tried."""
    trace: list[RuleTried] = []
    for rule in rules:
        ok, notes = evaluate(rule, state)
        trace.append({"rule": rule.id, "matched": ok, "checks": notes})
        if ok:
            return rule, trace
    return None, trace


_GAP_NAMES = {"employees": "employee count", "region": "country or region"}


def data_gaps(rules: list[Rule], state: Mapping[str, Any], stop_at: str | None) -> list[str]:
    """The fields the conditional rules tried before `stop_at` needed and the lead lacked,
    each as a person would name it ("no employee count"); sorted, without repeats."""
    gaps: set[str] = set()
    for rule in rules:
        if rule.id == stop_at:
            break
        for path in rule.when:
            if get_path(state, path) in (_MISSING, None, ""):
                last = path.rsplit(".", 1)[-1]
                gaps.add(f"no {_GAP_NAMES.get(last, last.replace('_', ' '))}")
    return sorted(gaps)
