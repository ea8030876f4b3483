"""`learn`: fit the learned scorer on stored outcomes or a CSV export and install it.

The model is written as `<models dir>/<version>.json` and copied to the current model path
(`MODEL_PATH`, default `DATA_DIR/models/current.json`), which the scorer loads at start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.learned_model import LearnedModel, parse_label, read_csv
from service.backends import open_store
from service.settings import Settings

OPEN_OUTCOMES = {"open"}


async def outcome_rows(settings: Settings) -> tuple[list[dict[str, Any]], list[int]]:
    """Each stored outcome's lead properties and its 0/1 label (open deals left out)."""
    store = await open_store(settings)
    try:
        rows: list[dict[str, Any]] = []
        labels: list[int] = []
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
        return rows, labels
    finally:
        await store.close()


def install(model: LearnedModel, settings: Settings, out_dir: Path | None) -> Path:
    """Write the versioned model file and make it the current one."""
    target = settings.current_model_path
    versioned = (out_dir or target.parent) / f"{model.version}.json"
    versioned.parent.mkdir(parents=True, exist_ok=True)
    model.save(versioned)
    target.parent.mkdir(parents=True, exist_ok=True)
    if versioned.resolve() != target.resolve():
        shutil.copyfile(versioned, target)
    return versioned


def cli(argv: list[str], settings: Settings | None = None) -> int:
    """`learn`: fit, report and install a model; the JSON summary is the last line."""
    parser = argparse.ArgumentParser(prog="cli.py learn", description=__doc__)
    parser.add_argument("--csv", type=Path, help="CSV export with outcomes (default: stored)")
    parser.add_argument("--label", help="the CSV's outcome column (1/0, yes/no, won/lost)")
    parser.add_argument("--exclude", default="", help="comma-separated columns to leave out")
    parser.add_argument("--out", type=Path, help="folder for the versioned model file")
    parser.add_argument("--min-rows", type=int, default=50, help="fewest outcomes to fit on")
    args = parser.parse_args(argv)
    settings = settings or Settings()
    exclude = {c.strip() for c in args.exclude.split(",") if c.strip()}
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
    else:
        rows, labels = asyncio.run(outcome_rows(settings))
        source = "stored outcomes"
    if len(rows) < args.min_rows or len(set(labels)) < 2:
        print(
            f"{source}: {len(rows)} outcomes ({sum(labels)} positive); need at least "
            f"{args.min_rows} with both outcomes to learn from",
            file=sys.stderr,
        )
        return 2
    version = "learned-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    model = LearnedModel.fit(
        rows, labels, exclude=exclude | {args.label or ""}, version=version, label=args.label
    )
    path = install(model, settings, args.out)
    summary = {
        "version": version,
        "source": source,
        "rows": len(rows),
        "positives": sum(labels),
        "features": model.features,
        "path": str(path),
        "current": str(settings.current_model_path),
    }
    print(f"learned {version} from {len(rows)} outcomes ({sum(labels)} positive) in {source}")
    print(f"features: {', '.join(model.features)}")
    print(f"wrote {path}; current model: {settings.current_model_path} (restart to load)")
    print(json.dumps(summary))
    return 0
