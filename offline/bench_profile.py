"""`cli.py bench --profile pipeline|ack`: where the time goes, beside the baseline's.

`pipeline`: a lead's time in the SQLite pipeline, beside the null graph's.

The same leads run through the service (default mode, in process) and through the null graph
on the same checkpointer, as the bench's pipeline section runs them after its warm-up, each
under cProfile while it is timed (opening the services is not counted). Each function's own
time (not what it calls) is summed by where it lives — the project's layers, LangGraph,
SQLite statements, compression, the event loop, the wait for I/O — and printed per lead, the
service's beside the null graph's, largest difference first. cProfile slows Python code more
than C code, so the figures are for comparing rows, not for reading as speeds; the bench's own
measures are those.

`ack`: a duplicate webhook's time in queue mode (`cli.py serve` on Redis), beside the bare app
awaiting one Redis round trip (`offline/bare_app.py`), each a server of its own profiled
between SIGUSR1 and SIGUSR2 (`service/profiling.py`) while the bench's load generator sends the
same 50 leads again and again, in µs a request.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
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
    "poll": "waiting: I/O, other threads (the checkpointer's)",
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
    "fastapi": "FastAPI and Starlette",
    "starlette": "FastAPI and Starlette",
    "uvicorn": "uvicorn and h11",
    "h11": "uvicorn and h11",
    "redis": "redis-py",
    "uuid.py": "uuid",
    "hashlib.py": "hashlib",
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


def grouped(stats: pstats.Stats) -> Counter[str]:
    """Seconds of own time by row (`where`)."""
    rows: Counter[str] = Counter()
    for (file, _, function), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
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
    ours, theirs = grouped(pstats.Stats(service)), grouped(pstats.Stats(null))
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
    """The pipeline rows as a table, with what they are."""
    title = (
        f"pipeline on SQLite, {result['leads']} leads in process after a warm-up, each run "
        "under cProfile: own time by where it is spent, in ms a lead"
    )
    table = _table(title, result, ("service_ms", "null_ms"), "null graph", digits=2)
    return f"{table}\nleads: {result['statuses']}"


def _table(
    title: str, result: dict[str, Any], keys: tuple[str, str], baseline: str, digits: int
) -> str:
    """`result`'s rows under `title`: the service's figure (`keys[0]`), the baseline's
    (`keys[1]`) and the difference, rows too small to show left out; then the totals."""
    ours, theirs = keys
    smallest = 0.5 * 10**-digits * 10
    lines = [
        title,
        "(cProfile slows Python more than C: compare rows; the speeds are the bench's)",
        "",
        f"{'where':48} {'service':>9} {baseline:>11} {'difference':>11}",
        "-" * 82,
    ]
    shown = [row for row in result["rows"] if max(row[ours], row[theirs]) >= smallest]
    shown.append({"where": "all", ours: result[ours], theirs: result[theirs]})
    for row in shown:
        if row["where"] == "all":
            lines.append("-" * 82)
        lines.append(
            f"{row['where'][:48]:48} {row[ours]:9.{digits}f} {row[theirs]:11.{digits}f} "
            f"{row[ours] - row[theirs]:+11.{digits}f}"
        )
    return "\n".join(lines)


def run_ack(redis_url: str, seconds: float = 3.0) -> dict[str, Any]:
    """Profile duplicate webhooks on the service in queue mode and on the bare app with one
    Redis round trip; the rows, in µs a request."""
    import os
    import signal
    import time
    from dataclasses import replace

    from offline import loadgen
    from offline.bench import QUICK, Bench, _fresh_process_pool, sample_leads, started

    leads = sample_leads(500)
    taken: dict[str, tuple[Counter[str], int]] = {}
    with tempfile.TemporaryDirectory(prefix="lead-router-profile-") as scratch:
        bench = Bench(QUICK, Path(scratch), redis_url, "")
        if bench.redis_problem:
            raise RuntimeError(bench.redis_problem)
        try:
            with _fresh_process_pool() as client:
                for kind in ("queue", "bare_redis"):
                    stats = Path(scratch) / f"{kind}.prof"
                    server = bench.server(kind, f"p{kind[0]}", profile=stats)
                    with started([server]):
                        assert server.proc is not None
                        load = loadgen.Load(server.port, leads, f"prof{kind[0]}", seconds=seconds)
                        seed = replace(load, requests=50, connections=4)
                        client.submit(loadgen.run, seed).result()
                        server.proc.send_signal(signal.SIGUSR1)
                        done = client.submit(loadgen.run, replace(load, cycle=50)).result()
                        server.proc.send_signal(signal.SIGUSR2)
                        deadline = time.monotonic() + 60
                        while not stats.is_file() and time.monotonic() < deadline:
                            time.sleep(0.05)
                    taken[kind] = (grouped(pstats.Stats(str(stats))), done.requests)
                    os.unlink(stats)
        finally:
            bench.clean_up()
    (ours, served), (theirs, bare_served) = taken["queue"], taken["bare_redis"]
    ours_us, theirs_us = 1e6 / served, 1e6 / bare_served
    rows: list[dict[str, Any]] = [
        {"where": row, "service_us": ours[row] * ours_us, "baseline_us": theirs[row] * theirs_us}
        for row in sorted(
            set(ours) | set(theirs), key=lambda r: theirs[r] * theirs_us - ours[r] * ours_us
        )
    ]
    return {
        "requests": {"service": served, "baseline": bare_served},
        "service_us": sum(ours.values()) * ours_us,
        "baseline_us": sum(theirs.values()) * theirs_us,
        "rows": rows,
    }


def report_ack(result: dict[str, Any]) -> str:
    """The ack rows as a table, with what they are."""
    requests = result["requests"]
    title = (
        f"webhook ack, duplicate leads, queue mode ({requests['service']:,} requests) beside "
        f"the bare app + one Redis round trip ({requests['baseline']:,}), each server under "
        "cProfile: own time by where it is spent, in µs a request"
    )
    return _table(title, result, ("service_us", "baseline_us"), "bare+Redis", digits=1)


def main(args: argparse.Namespace) -> int:
    """`cli.py bench --profile [pipeline|ack]`: the table, then the JSON on the last line."""
    if args.profile == "ack":
        profiled = run_ack(args.redis_url)
        print(report_ack(profiled))
    else:
        profiled = run(leads=max(1, args.profile_leads))
        print(report(profiled))
    print(json.dumps(profiled))
    return 0
