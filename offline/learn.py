"""`learn`: fit the learned scorer on stored outcomes or a CSV export, measure it on held-back
rows beside the live scorer, and install it only when it is better.

The held-back rows are the latest quarter when the data has a date column (stored outcomes
are ordered by when the lead arrived), else a seeded random quarter. The new model is trained
on the other rows and measured on the held-back ones beside the live model (or, when none is
live, the rules of `scoring.yaml`). Columns that look filled in after contact are named
(`domain.leakage`); when `scoring.yaml` lists the columns a lead has at capture
(`learning.capture_columns`) only those are used, and without that list a suspected leak stops
the install. `--force` installs regardless. Every model is saved as `<models dir>/<version>.json`
(`python cli.py model` lists, activates and rolls back); an installed one is copied to the
current model path, which the scorer loads at start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from domain.config import ConfigError, ScoringConfig, load_scoring
from domain.leakage import Suspect, leakage_suspects
from domain.learned_model import LearnedModel, is_identifier, is_missing, parse_label, read_csv
from domain.records import DecisionRecord, Lead
from domain.scoring import score_lead
from offline.evals.score import metrics
from offline.models import RESTART, RULES, ModelFolder
from service.backends import open_store
from service.settings import Settings

OPEN_OUTCOMES = {"open"}
HOLDOUT_SHARE = 0.25
SEED = 0
DATE_NAME = re.compile(r"(date|time|created|submitted|received|_at$)", re.IGNORECASE)


async def outcome_rows(
    settings: Settings,
) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    """Each stored outcome's lead properties, its 0/1 label and when the lead arrived."""
    store = await open_store(settings)
    try:
        rows: list[dict[str, Any]] = []
        labels: list[int] = []
        times: list[str] = []
        for outcome in await store.list_outcomes():
            if outcome.get("outcome") in OPEN_OUTCOMES:
                continue
            record = await store.get_lead(outcome["lead_id"])
            if record is None:
                continue
            properties = record.payload.get("properties")
            row = dict(properties) if isinstance(properties, dict) else {}
            for field in ("source", "form_id", "country", "title"):
                if record.payload.get(field) is not None:
                    row.setdefault(f"lead.{field}", record.payload[field])
            rows.append(row)
            labels.append(parse_label(outcome["outcome"]))
            times.append(record.received_at)
        return rows, labels, times
    finally:
        await store.close()


def date_column(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """The first column named like a date whose filled values all read as ISO dates."""
    for name in rows[0] if rows else ():
        if not DATE_NAME.search(name):
            continue
        values = [str(r[name]).strip() for r in rows if not is_missing(r.get(name))]
        if len(values) >= 0.9 * len(rows) and all(_is_date(v) for v in values):
            return name
    return None


def _is_date(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def held_back(
    labels: Sequence[int], times: Sequence[str] | None, *, share: float, seed: int
) -> tuple[list[int], list[int], str]:
    """Indices of the training rows and the held-back rows, and how they were chosen.

    With `times` the held-back rows are the latest `share`; without, a stratified random
    `share` drawn with `seed`.
    """
    n = len(labels)
    k = max(1, round(share * n))
    if times is not None:
        order = sorted(range(n), key=lambda i: (times[i], i))
        return sorted(order[:-k]), sorted(order[-k:]), f"the latest {share:.0%} by date"
    from sklearn.model_selection import train_test_split

    stratify = np.asarray(labels) if min(sum(labels), n - sum(labels)) >= 2 else None
    train, test = train_test_split(np.arange(n), test_size=k, stratify=stratify, random_state=seed)
    how = f"a random {share:.0%}, seed {seed}: the data has no date column"
    return sorted(int(i) for i in train), sorted(int(i) for i in test), how


def figures(y: np.ndarray, scores: np.ndarray, book_at: float) -> dict[str, Any]:
    """ROC-AUC, PR-AUC, lift, Brier and calibration of 0–100 `scores`, and the precision of
    the rows at or above the book threshold."""
    out: dict[str, Any] = metrics(y, scores / 100.0)
    booked = scores >= book_at
    out["book_at"] = book_at
    out["book_rows"] = int(booked.sum())
    out["book_precision"] = float(y[booked].mean()) if booked.any() else None
    out["constant"] = bool(np.all(scores == scores[0]))
    return out


def rules_scores(rows: Sequence[Mapping[str, Any]], cfg: ScoringConfig) -> np.ndarray:
    """The rules' total for each row, read as a lead whose properties are the row."""
    states: list[DecisionRecord] = [{"lead": cast(Lead, {"properties": dict(r)})} for r in rows]
    return np.array([score_lead(state, cfg)["total"] for state in states])


def _line(name: str, f: Mapping[str, Any] | None) -> str:
    if f is None:
        return f"  {name:<38}{'—':>8}"
    precision = f["book_precision"]
    booked = f"{f['book_rows']:>8,}{(f'{precision:.1%}' if precision is not None else '—'):>11}"
    line = f"  {name:<38}{f['roc_auc']:>8.3f}{f['pr_auc']:>8.3f}{f['top_decile_lift']:>10.2f}"
    line += booked
    if f["constant"]:
        line += "   (same score for every row: no signal here)"
    return line


def cli(argv: list[str], settings: Settings | None = None) -> int:
    """`learn`: fit, measure on held-back rows, install when better; the JSON summary is last.

    Exit status: 0 installed, 1 measured and saved but not installed, 2 unusable input.
    """
    parser = argparse.ArgumentParser(prog="cli.py learn", description=__doc__)
    parser.add_argument("--csv", type=Path, help="CSV export with outcomes (default: stored)")
    parser.add_argument("--label", help="the CSV's outcome column (1/0, yes/no, won/lost)")
    parser.add_argument("--exclude", default="", help="comma-separated columns to leave out")
    parser.add_argument("--out", type=Path, help="folder for the versioned model file")
    parser.add_argument("--min-rows", type=int, default=50, help="fewest outcomes to fit on")
    parser.add_argument(
        "--holdout",
        type=float,
        default=HOLDOUT_SHARE,
        help="share of rows held back to measure on (default 0.25)",
    )
    parser.add_argument("--date-column", help="order rows by this column (default: detected)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="install even when not better than the live scorer or leakage is suspected",
    )
    args = parser.parse_args(argv)
    settings = settings or Settings()
    try:
        scoring = load_scoring(settings.scoring_config)
    except ConfigError as exc:
        print(f"learn: {exc}", file=sys.stderr)
        return 2
    exclude = {c.strip() for c in args.exclude.split(",") if c.strip()}
    times: list[str] | None = None
    if args.csv:
        if not args.label:
            parser.error("--csv needs --label")
        table = read_csv(args.csv)
        if table and args.label not in table[0]:
            print(f"{args.csv}: no column {args.label!r}", file=sys.stderr)
            return 2
        rows, labels = [], []
        for line, row in enumerate(table, start=2):
            try:
                labels.append(parse_label(row[args.label]))
            except ValueError as exc:
                print(f"{args.csv}:{line}: {exc}", file=sys.stderr)
                return 2
            rows.append(row)
        source = str(args.csv)
        dated = args.date_column or date_column(rows)
        if dated is not None:
            if dated not in rows[0]:
                print(f"{args.csv}: no column {dated!r}", file=sys.stderr)
                return 2
            times = [str(r.get(dated) or "") for r in rows]
            exclude.add(dated)
    else:
        rows, labels, times = asyncio.run(outcome_rows(settings))
        source = "stored outcomes"
        dated = "received_at"
    if len(rows) < args.min_rows or len(set(labels)) < 2:
        print(
            f"{source}: {len(rows)} outcomes ({sum(labels)} positive); need at least "
            f"{args.min_rows} with both outcomes to learn from",
            file=sys.stderr,
        )
        return 2
    return _learn(args, settings, scoring, rows, labels, times, dated, source, exclude)


def _learn(
    args: argparse.Namespace,
    settings: Settings,
    scoring: ScoringConfig,
    rows: list[dict[str, Any]],
    labels: list[int],
    times: list[str] | None,
    dated: str | None,
    source: str,
    exclude: set[str],
) -> int:
    folder = ModelFolder.of(settings)
    capture = scoring.learning.capture_columns
    columns = [c for c in rows[0] if c != args.label and c not in exclude and not is_identifier(c)]
    if capture is not None:
        absent = [c for c in capture if c not in rows[0]]
        if absent:
            print(f"capture columns not in {source}: {', '.join(absent)}")
        exclude |= {c for c in rows[0] if c not in capture and c != args.label and c not in exclude}
        columns = [c for c in columns if c in capture]

    train_idx, test_idx, how = held_back(labels, times, share=args.holdout, seed=SEED)
    if dated and times is not None:
        how = how.replace("by date", f"by {dated}")
    train = [rows[i] for i in train_idx]
    test = [rows[i] for i in test_idx]
    y_train = [labels[i] for i in train_idx]
    y_test = np.asarray([labels[i] for i in test_idx], dtype=float)
    if len(set(y_train)) < 2:
        print(f"{source}: the training rows have one outcome only; hold back less", file=sys.stderr)
        return 2

    stem = "learned-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    version = folder.new_version(stem)
    model = LearnedModel.fit(
        train, y_train, exclude=exclude | {args.label or ""}, version=version, label=args.label
    )
    if capture is not None:
        for name in model.excluded:
            if name not in capture and name != args.label:
                model.excluded[name] = (
                    "not a capture column (scoring.yaml learning.capture_columns)"
                )
    live_version = folder.live()
    live = LearnedModel.load(settings.current_model_path) if live_version != RULES else None
    checked = [*columns, *(c for c in (live.features if live else []) if c not in columns)]
    suspects = leakage_suspects(train, y_train, checked)
    new_suspects = [s for s in suspects if s.column in model.features]
    book_at = scoring.actions.book_at
    measurable = len(set(y_test.tolist())) == 2
    results: dict[str, dict[str, Any] | None] = {"new": None, "live": None, "rules": None}
    if measurable:
        results["new"] = figures(y_test, 100 * model.predict_proba(test), book_at)
        if live is not None:
            results["live"] = figures(y_test, 100 * live.predict_proba(test), book_at)
        results["rules"] = figures(y_test, rules_scores(test, scoring), book_at)

    baseline = results["live"] if live is not None else results["rules"]
    refusals: list[str] = []
    if not measurable:
        refusals.append("the held-back rows have one outcome only, so nothing can be compared")
    elif (
        baseline is not None
        and results["new"] is not None
        and not results["new"]["roc_auc"] > baseline["roc_auc"]
    ):
        refusals.append(
            f"it is not better than the live scorer ({live_version}) on the held-back rows"
        )
    if new_suspects and capture is None:
        refusals.append(
            "leakage is suspected and scoring.yaml has no learning.capture_columns list"
        )
    install = args.force or not refusals

    model.training["source"] = source
    model.training["held_back"] = {
        "rows": len(test_idx),
        "positives": int(y_test.sum()),
        "how": how,
        "figures": results["new"],
    }
    model.training["suspects"] = [{"column": s.column, "why": s.why} for s in new_suspects]
    saved = model.save((args.out or folder.folder) / f"{version}.json")
    if args.out and saved.resolve() != folder.path(version).resolve():
        model.save(folder.path(version))
    previous = folder.activate(version, action="learn") if install else None

    _report(
        model=model,
        source=source,
        rows=len(rows),
        positives=sum(labels),
        train_rows=len(train_idx),
        test_rows=len(test_idx),
        how=how,
        results=results,
        live_version=live_version,
        live_suspects=[s for s in suspects if live is not None and s.column in live.features],
        suspects=new_suspects,
        capture=capture,
        refusals=refusals,
        installed=install,
        previous=previous,
        saved=saved,
    )
    summary = {
        "version": version,
        "source": source,
        "rows": len(rows),
        "positives": sum(labels),
        "features": model.features,
        "path": str(saved),
        "current": str(settings.current_model_path),
        "installed": install,
        "forced": bool(args.force and refusals),
        "refused": refusals,
        "live": version if install else live_version,
        "held_back": {"rows": len(test_idx), "positives": int(y_test.sum()), "how": how},
        "figures": results,
        "suspects": [{"column": s.column, "why": s.why} for s in new_suspects],
        "capture_columns": capture,
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if install else 1


def _report(
    *,
    model: LearnedModel,
    source: str,
    rows: int,
    positives: int,
    train_rows: int,
    test_rows: int,
    how: str,
    results: Mapping[str, Mapping[str, Any] | None],
    live_version: str,
    live_suspects: Sequence[Suspect],
    suspects: Sequence[Suspect],
    capture: Sequence[str] | None,
    refusals: Sequence[str],
    installed: bool,
    previous: str | None,
    saved: Path,
) -> None:
    """The readable report: figures side by side, leakage warnings, and what was done."""
    print(f"learned {model.version} from {rows:,} outcomes ({positives:,} positive) in {source}")
    if capture is not None:
        print("columns: only the capture columns listed in scoring.yaml (learning.capture_columns)")
    print(f"features ({len(model.features)}): {', '.join(model.features)}")
    print(f"held back {test_rows:,} rows ({how}); trained on {train_rows:,}")
    print()
    book = next((f["book_at"] for f in results.values() if f is not None), None)
    at_book = f"≥ {book:g}: rows" if book is not None else "≥ book"
    print(
        f"  {'on the held-back rows':<38}{'ROC-AUC':>8}{'PR-AUC':>8}{'lift@10%':>10}"
        f"{at_book:>12}{'converted':>11}"
    )
    print(_line(f"new      {model.version}", results["new"]))
    if live_version != RULES:
        print(_line(f"live     {live_version}", results["live"]))
    rules_name = "rules    scoring.yaml" + (" (live)" if live_version == RULES else "")
    print(_line(rules_name, results["rules"]))
    if live_suspects:
        names = ", ".join(s.column for s in live_suspects)
        print(f"  the live model uses suspected columns ({names}): its figures may be inflated")
    print()
    if suspects:
        print("possible leakage: these columns may be filled in after contact or the outcome")
        for s in suspects:
            print(f"  {s.column}: {s.why}")
        if capture is None:
            print(
                "  list the columns a lead has when it arrives in scoring.yaml "
                "(learning: {capture_columns: [...]}) and learn again"
            )
        print()
    if installed:
        forced = " (forced: " + "; ".join(refusals) + ")" if refusals else ""
        print(f"INSTALLED {model.version} as the live model{forced}; was: {previous}")
        print(f"  {RESTART}; undo with `python cli.py model rollback`")
    else:
        print(f"NOT INSTALLED: {'; '.join(refusals)}. The live scorer is still {live_version}.")
        print(
            f"  saved as {saved}; `python cli.py model shadow {model.version}` scores it beside "
            "the live one, `--force` installs it anyway"
        )
