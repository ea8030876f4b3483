"""Backtest: replay historical leads through the current config, with no side effects.

`python cli.py backtest --leads FILE` reads leads as JSONL (one payload per line) or CSV (a
header row; columns are lead fields, dotted headers such as `utm.source` or `properties.X`
become nested objects, any other unknown column goes to `properties`). `expected_team`,
`expected_owner` and `expected_action` columns or keys are labels, taken out of the payload.

Each row is checked as `POST /webhooks/lead` checks it: a row the webhook would reject (no or
bad email, a field of the wrong type) is counted and listed with the reason, and a row that
repeats an earlier delivery (same event id, or same email, form and day) is counted as a
duplicate, as the webhook would absorb it. Every other lead runs through the graph's own
capture → enrich → classify → score → route nodes against a throwaway store and built-in CRM
in a temporary directory, seeded like the service's, with the real routing, scoring and
accounts files. Nothing is booked, drafted, written to a CRM or sent, and round-robin
counters start from zero, so the same file gives the same result run after run. A lead's
clock is its `submitted_at` (else the time the replay started), so out-of-office days and
daily caps apply as they did on that day. The learned scoring model and a copy of the local
similar-account memory are used as the service uses them; the HTTP enrichment provider is not
called.

The summary counts leads per action, rule (or `(existing_owner)`, `(fallback)`), method,
team or queue and rep; with labels, accuracy per label (over the leads that carry it) and
an expected × actual confusion table per label.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Final, Literal

from domain.config import ConfigError, load_routing, load_scoring
from domain.intake import LeadIn
from service.replay import (
    DISTRIBUTIONS,
    LABELS,
    LeadRow,
    replay,
    summarize,
)
from service.settings import Settings

LABEL_KEYS: Final = {f"expected_{label}": label for label in LABELS}
LEAD_FIELDS: Final = frozenset(LeadIn.model_fields)

Format = Literal["jsonl", "csv"]


class BacktestError(ValueError):
    """The leads file cannot be read as a whole (missing, bad header)."""


# Reading ---------------------------------------------------------------------------------------


def lead_format(path: Path) -> Format:
    """`csv` or `jsonl`, by the file's extension, else by its first non-blank character."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    with path.open(encoding="utf-8-sig") as handle:
        for text in handle:
            if text.strip():
                return "jsonl" if text.lstrip().startswith("{") else "csv"
    return "jsonl"


def read_leads(path: Path, *, limit: int | None = None) -> tuple[Format, list[LeadRow]]:
    """The file's format and its first `limit` rows (all when None); blank lines are skipped."""
    if not path.is_file():
        raise BacktestError(f"{path}: no such file")
    fmt = lead_format(path)
    rows = _csv_rows(path) if fmt == "csv" else _jsonl_rows(path)
    return fmt, list(islice(rows, limit))


def _take_labels(payload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key, label in LABEL_KEYS.items():
        value = payload.pop(key, None)
        text = "" if value is None else str(value).strip()
        if text:
            labels[label] = text
    return labels


def _jsonl_rows(path: Path) -> Iterator[LeadRow]:
    with path.open(encoding="utf-8-sig") as handle:
        for line, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield LeadRow(line, None, problem=f"not valid JSON: {exc.msg} (column {exc.colno})")
                continue
            if not isinstance(value, dict):
                yield LeadRow(
                    line, None, problem=f"expected a JSON object, got {type(value).__name__}"
                )
                continue
            value.pop("_expect", None)
            yield LeadRow(line, value, _take_labels(value))


Column = tuple[Literal["label", "field"], tuple[str, ...]]


def csv_columns(header: list[str]) -> list[Column | None]:
    """Where each CSV column goes: a label, or a path into the payload (None: ignored)."""
    columns: list[Column | None] = []
    paths: dict[tuple[str, ...], str] = {}
    for raw in header:
        name = raw.strip()
        if not name:
            columns.append(None)
            continue
        if name.lower() in LABEL_KEYS:
            columns.append(("label", (LABEL_KEYS[name.lower()],)))
            continue
        parts = tuple(part.strip() for part in name.split("."))
        if any(not part for part in parts):
            raise BacktestError(f"column {name!r} has an empty part between dots")
        root = parts[0].lower() if parts[0].lower() in LEAD_FIELDS else parts[0]
        if len(parts) > 1:
            path: tuple[str, ...] = (root, *parts[1:])
        elif root in LEAD_FIELDS:
            path = (root,)
        else:
            path = ("properties", name)
        for other, other_name in paths.items():
            if other == path:
                raise BacktestError(f"columns {other_name!r} and {name!r} fill the same field")
            shorter, longer = sorted((other, path), key=len)
            if longer[: len(shorter)] == shorter:
                raise BacktestError(
                    f"column {other_name!r} conflicts with {name!r}: "
                    "one is an object holding the other"
                )
        paths[path] = name
        columns.append(("field", path))
    return columns


def _csv_rows(path: Path) -> Iterator[LeadRow]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        try:
            columns = csv_columns(header)
        except BacktestError as exc:
            raise BacktestError(f"{path}:1: {exc}") from None
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(columns):
                yield LeadRow(
                    start,
                    None,
                    problem=f"{len(cells)} cells but the header has {len(columns)} columns",
                )
                continue
            payload: dict[str, Any] = {}
            labels: dict[str, str] = {}
            for column, cell in zip(columns, cells, strict=False):
                value = cell.strip()
                if column is None or not value:
                    continue
                kind, keys = column
                if kind == "label":
                    labels[keys[0]] = value
                    continue
                target = payload
                for key in keys[:-1]:
                    target = target.setdefault(key, {})
                target[keys[-1]] = value
            yield LeadRow(start, payload, labels)


def run(settings: Settings, leads_path: Path, *, limit: int | None = None) -> dict[str, Any]:
    """Replay the leads in `leads_path` (the first `limit` rows) and return the summary.

    Raises ConfigError for an invalid routing/scoring file and ValueError (BacktestError
    included) for an unreadable leads or accounts file.
    """
    routing = load_routing(settings.routing_config)
    scoring = load_scoring(settings.scoring_config)
    fmt, rows = read_leads(leads_path, limit=limit)
    with tempfile.TemporaryDirectory(prefix="lead-router-backtest-") as scratch:
        outcomes, elapsed, inputs = asyncio.run(
            replay(rows, settings, Path(scratch), routing, scoring)
        )
    return {
        "leads": str(leads_path),
        "format": fmt,
        "config": {
            "routing": str(settings.routing_config),
            "scoring": str(settings.scoring_config),
            "accounts": str(settings.accounts_csv),
        },
        "inputs": inputs,
        **summarize(outcomes, routing, elapsed),
    }


# Report ----------------------------------------------------------------------------------------


def _table(title: str, dist: dict[str, dict[str, float]]) -> list[str]:
    if not dist:
        return [f"{title}: —"]
    width = max(len(title), *(len(k) + 2 for k in dist))
    lines = [f"{title:<{width}} {'count':>6} {'%':>6}"]
    lines += [f"  {k:<{width - 2}} {int(v['count']):>6} {v['pct']:>6.1f}" for k, v in dist.items()]
    return lines


def _confusion(label: str, table: dict[str, dict[str, int]]) -> list[str]:
    actual = sorted({a for row in table.values() for a in row})
    corner = "expected \\ actual"
    first = max(len(corner), *(len(e) for e in table))
    widths = [max(len(a), 3) for a in actual]
    lines = [f"confusion {label}:"]
    lines.append(
        "  "
        + f"{corner:<{first}}"
        + "".join(f"  {a:>{w}}" for a, w in zip(actual, widths, strict=True))
    )
    for expected, row in table.items():
        cells = "".join(
            f"  {(str(row[a]) if a in row else '.'):>{w}}"
            for a, w in zip(actual, widths, strict=True)
        )
        lines.append(f"  {expected:<{first}}{cells}")
    return lines


def report(result: dict[str, Any]) -> list[str]:
    """The human-readable report, line by line (the JSON summary is printed after it)."""
    totals = result["totals"]
    speed = result["speed"]
    config = result["config"]
    inputs = result["inputs"]
    lines = [
        f"backtest {result['leads']} ({result['format']}) with routing {config['routing']}, "
        f"scoring {config['scoring']}, accounts {config['accounts']}",
        "decided with: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in inputs.items()),
        f"rows {totals['rows']}: {totals['routed']} routed, {totals['duplicates']} duplicate "
        f"deliveries, {totals['invalid']} invalid, {totals['failed']} failed",
        f"speed: {totals['routed']} leads in {speed['seconds']:.2f} s "
        f"({speed['leads_per_s'] or 0:.0f} leads/s, capture → route, no side effects)",
    ]
    titles = {
        "action": "per action",
        "rule": "per rule",
        "method": "per method",
        "team": "per team/queue",
        "rep": "per rep",
    }
    for name in DISTRIBUTIONS:
        lines += ["", *_table(titles[name], result["distribution"][name])]
    caught = result["catch_all"]
    lines += ["", f"reached the catch-all or fallback: {caught['count']} ({caught['pct']:.1f}%)"]
    if caught["why"]:
        lines += _table("  why", caught["why"])[1:]
    if result["accuracy"]:
        lines += ["", "accuracy (over the leads with that label):"]
        for label, acc in result["accuracy"].items():
            lines.append(f"  {label:<7} {acc['accuracy']:.3f} ({acc['correct']}/{acc['labelled']})")
        for label, table in result["confusion"].items():
            lines += ["", *_confusion(label, table)]
    listings: tuple[tuple[str, str, Callable[[dict[str, Any]], str]], ...] = (
        (
            "mismatches",
            "mismatches",
            lambda m: (
                f"{m['label']}: expected {m['expected']}, got {m['actual']} "
                f"(rule {m['rule']}) {m['email']}"
            ),
        ),
        ("invalid", "invalid rows", lambda r: f"{r['reason']}"),
        ("duplicates", "duplicate deliveries", lambda r: f"repeats line {r['of_line']}"),
        ("failed", "failed rows", lambda r: f"{r['reason']}"),
    )
    for key, title, describe in listings:
        entries = result[key]
        if not entries:
            continue
        count = len(entries) if key == "mismatches" else totals.get(key, len(entries))
        more = f" (first {len(entries)} of {count})" if count > len(entries) else ""
        lines += ["", f"{title}{more}:"]
        lines += [f"  line {e['line']}: {describe(e)}" for e in entries]
    return lines


def cli(argv: list[str]) -> int:
    """`backtest`: print the report, then the JSON summary on the last line."""
    parser = argparse.ArgumentParser(
        prog="cli.py backtest",
        description="Replay historical leads (CSV or JSONL) through the current routing and "
        "scoring config with no side effects: distribution per action, rule, team/queue and "
        "rep, and accuracy with a confusion table when expected_team, expected_owner or "
        "expected_action labels are present. The JSON summary is the last line.",
    )
    parser.add_argument("--leads", type=Path, required=True, metavar="FILE", help="CSV or JSONL")
    parser.add_argument(
        "--routing", type=Path, metavar="PATH", help="routing.yaml (default ROUTING_CONFIG)"
    )
    parser.add_argument(
        "--scoring", type=Path, metavar="PATH", help="scoring.yaml (default SCORING_CONFIG)"
    )
    parser.add_argument(
        "--accounts", type=Path, metavar="PATH", help="accounts CSV (default ACCOUNTS_CSV)"
    )
    parser.add_argument("--limit", type=_positive, metavar="N", help="replay the first N rows")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON summary line")
    args = parser.parse_args(argv)

    from service.logs import configure_logging

    settings = Settings()
    # The report is the output; the service's start-up lines (accounts loaded, scoring) would
    # only come first. LOG_LEVEL=DEBUG shows them.
    configure_logging("DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING")
    overrides = {
        name: value
        for name, value in (
            ("routing_config", args.routing),
            ("scoring_config", args.scoring),
            ("accounts_csv", args.accounts),
        )
        if value is not None
    }
    settings = settings.model_copy(update=overrides)
    try:
        result = run(settings, args.leads, limit=args.limit)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    if not args.json_only:
        for line in report(result):
            print(line)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
