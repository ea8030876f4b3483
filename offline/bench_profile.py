"""`cli.py bench --profile`: where a lead's time goes in the SQLite pipeline, beside the null
graph's.

The same leads run through the service (default mode, in process) and through the null graph
on the same checkpointer, as the bench's pipeline section runs them after its warm-up, each
under cProfile while it is timed (opening the services is not counted). Each function's own
time (not what it calls) is summed by where it lives — the project's layers, LangGraph,
SQLite statements, compression, the event loop, the wait for I/O — and printed per lead, the
service's beside the null graph's, largest difference first. cProfile slows Python code more
than C code, so the figures are for comparing rows, not for reading as speeds; the bench's own
measures are those.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# "<method 'execute' of 'sqlite3.Connection' objects>", "<built-in method zlib.compress>"
_C_FUNCTION = re.compile(r"<(?:built-in )?method '?([\w.]+)")
LAYERS = ("domain", "tools", "graph", "service", "api", "offline")
# Functions implemented in C, by what they are part of.
BUILTINS = {
    "execute": "SQLite statements, in the event loop's thread",
    "executemany": "SQLite statements, in the event loop's thread",
    "fetchone": "SQLite statements, in the event loop's thread",
    "fetchall": "SQLite statements, in the event loop's thread",
    "commit": "SQLite statements, in the event loop's thread",
    "compress": "compression (zlib)",
    "decompress": "compression (zlib)",
    "packb": "msgpack",
    "unpackb": "msgpack",
    "poll": "waiting: I/O and the checkpointer's thread",
}
PACKAGES = {
    "langgraph": "LangGraph",
    "langchain_core": "LangGraph",
    "aiosqlite": "aiosqlite (the loop's side)",
    "asyncio": "event loop",
    "selectors.py": "event loop",
    "json": "json",
    "structlog": "logging",
    "logging": "logging",
    "prometheus_client": "metrics",
    "taskiq": "queue (taskiq)",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
}


def where(file: str, function: str) -> str:
    """The row a function's own time is added to."""
    if file == "~":
        named = _C_FUNCTION.match(function)
        name = named.group(1).rsplit(".", 1)[-1] if named else function
        if name in BUILTINS:
            return BUILTINS[name]
        return "built-in functions and methods"
    path = Path(file)
    try:
        inside = path.resolve().relative_to(ROOT)
    except ValueError:
        inside = None
    if inside is not None and inside.parts and inside.parts[0] in LAYERS:
        return f"ours: {inside.parts[0]}/"
    parts = path.parts
    for package, row in PACKAGES.items():
        if package in parts:
            return row
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    return "Python standard library, other"


def grouped(profile: cProfile.Profile) -> Counter[str]:
    """Seconds of own time by row."""
    rows: Counter[str] = Counter()
    for (file, _, function), (_, _, own, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        rows[where(file, function)] += own
    return rows


def run(leads: int = 200, warmup: int = 32) -> dict[str, Any]:
    """Profile `leads` through the service and the null graph; the rows, in ms a lead."""
    from offline.bench import SEED, null_in_process, pipeline_in_process, sample_leads
    from offline.loadgen import distinct
    from service.logs import configure_logging

    configure_logging("WARNING")
    sample = sample_leads(leads, SEED + 2)
    with tempfile.TemporaryDirectory(prefix="lead-router-profile-") as scratch:
        home = Path(scratch)
        warm = [distinct(lead, f"pw-{i}") for i, lead in enumerate(sample[:warmup])]
        asyncio.run(pipeline_in_process({"DATA_DIR": home / "warm"}, warm))
        asyncio.run(null_in_process({"DATA_DIR": home / "null-warm"}, warm))
        batch = [distinct(lead, f"pp-{i}") for i, lead in enumerate(sample)]
        service, null = cProfile.Profile(), cProfile.Profile()
        done = asyncio.run(pipeline_in_process({"DATA_DIR": home / "service"}, batch, service))
        asyncio.run(null_in_process({"DATA_DIR": home / "null"}, batch, null))
    ms = 1000 / len(batch)
    ours, theirs = grouped(service), grouped(null)
    rows: list[dict[str, Any]] = [
        {"where": row, "service_ms": ours[row] * ms, "null_ms": theirs[row] * ms}
        for row in sorted(set(ours) | set(theirs), key=lambda row: theirs[row] - ours[row])
    ]
    return {
        "leads": len(batch),
        "statuses": done["statuses"],
        "service_ms": sum(ours.values()) * ms,
        "null_ms": sum(theirs.values()) * ms,
        "rows": rows,
    }


def report(result: dict[str, Any]) -> str:
    """The rows as a table, with what they are."""
    lines = [
        f"pipeline on SQLite, {result['leads']} leads in process after a warm-up, each run "
        "under cProfile: own time by where it is spent, in ms a lead",
        "(cProfile slows Python more than C: compare rows; the speeds are the bench's)",
        "",
        f"{'where':48} {'service':>9} {'null graph':>11} {'difference':>11}",
        "-" * 82,
    ]
    for row in result["rows"]:
        if row["service_ms"] < 0.05 and row["null_ms"] < 0.05:
            continue
        difference = row["service_ms"] - row["null_ms"]
        lines.append(
            f"{row['where'][:48]:48} {row['service_ms']:9.2f} {row['null_ms']:11.2f} "
            f"{difference:+11.2f}"
        )
    lines.append("-" * 82)
    total = result["service_ms"] - result["null_ms"]
    lines.append(f"{'all':48} {result['service_ms']:9.2f} {result['null_ms']:11.2f} {total:+11.2f}")
    lines.append(f"leads: {result['statuses']}")
    return "\n".join(lines)
