"""Command line: `python cli.py serve | worker | demo` (each also a `make` target)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.wiring import Overrides

ROOT = Path(__file__).resolve().parent


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP API (and, with the in-process queue, the worker) under uvicorn."""
    from service.settings import Settings, UnsupportedSetting, refuse_unsupported

    settings = Settings()
    try:  # the app refuses them too; checked first so the reason is one line, not a traceback
        refuse_unsupported(settings)
    except UnsupportedSetting as exc:
        return _refused("serve", exc)

    import uvicorn

    from app import create_app

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0


SHUTDOWN_S = 10.0


async def _worker(concurrency: int | None, overrides: Overrides | None = None) -> int:
    """Run a queue worker until SIGINT/SIGTERM; `overrides` replace adapters (tests only)."""
    from taskiq.api import run_receiver_task

    from service import metrics
    from service.logs import configure_logging
    from service.settings import Settings
    from service.wiring import open_services

    settings = Settings()
    configure_logging(settings.log_level)
    if not settings.queue_url:
        print(
            "worker needs QUEUE_URL (a Redis URL); with the in-process queue the API process "
            "runs leads itself",
            file=sys.stderr,
        )
        return 2
    metrics.prepare()
    async with open_services(settings, overrides) as services:
        services.broker.is_worker_process = True
        await services.broker.startup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        tasks = [
            asyncio.create_task(
                run_receiver_task(
                    services.broker,
                    max_async_tasks=concurrency or settings.worker_concurrency,
                    run_startup=False,
                )
            ),
            # The stream keeps queued leads; only those waiting past redelivery are re-queued.
            asyncio.create_task(services.sweep(settings.redeliver_after_ms / 1000)),
        ]
        print(f"worker ready (queue {settings.queue_name}, pid {os.getpid()})", flush=True)
        await stop.wait()
        for task in tasks:
            task.cancel()
        # Shutdown is bounded: a lead still running is not acknowledged, so the stream hands
        # it to another worker after QUEUE_REDELIVER_AFTER_MS and its checkpoint resumes it.
        try:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), SHUTDOWN_S)
            await asyncio.wait_for(services.broker.shutdown(), SHUTDOWN_S)
        except TimeoutError:
            print(f"worker: shutdown took over {SHUTDOWN_S:g} s; leaving", file=sys.stderr)
    metrics.exited()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a queue worker over the Redis Stream broker (QUEUE_URL)."""
    from service.settings import UnsupportedSetting

    try:
        return asyncio.run(_worker(args.concurrency))
    except UnsupportedSetting as exc:
        return _refused("worker", exc)


def _refused(command: str, exc: Exception) -> int:
    """Say in one line why the command cannot start (exit status 2)."""
    print(f"{command}: {exc}", file=sys.stderr)
    return 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _demo(leads_file: Path, data_dir: Path, timeout_s: float, rate: float) -> int:
    import httpx
    import uvicorn

    from app import create_app
    from service.settings import Settings, UnsupportedSetting, refuse_unsupported

    settings = Settings(
        DATA_DIR=data_dir, LOG_LEVEL="WARNING", REDIS_URL=None, QUEUE_URL=None, DATABASE_URL=None
    )
    try:  # before uvicorn, which would print a traceback instead
        refuse_unsupported(settings)
    except UnsupportedSetting as exc:
        return _refused("demo", exc)
    await asyncio.to_thread(shutil.rmtree, data_dir, True)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            return 1
        await asyncio.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    text = await asyncio.to_thread(leads_file.read_text, encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    print(
        f"Lead Router demo: {len(lines)} sample leads → {base} "
        f"({f'{rate:g} leads/s' if rate > 0 else 'all at once'}; embedded defaults, "
        f"data in {data_dir})\n"
    )
    results: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        stamp = datetime.now(UTC).isoformat()  # one stamp, so a re-sent payload stays identical

        async def post(payload: dict[str, Any]) -> None:
            body = {k: v for k, v in payload.items() if k != "_expect"}
            body.setdefault("submitted_at", stamp)
            resp = await client.post("/webhooks/lead", json=body)
            results.append((resp.status_code, resp.json(), payload))

        started = time.perf_counter()
        for payload in lines:  # in file order, so duplicates follow their originals
            await post(payload)
            if rate > 0:
                await asyncio.sleep(1 / rate)
        ack_s = time.perf_counter() - started
        accepted = {r[1]["lead_id"] for r in results if r[0] == 202}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            page = (await client.get("/admin/leads", params={"limit": 500})).json()["leads"]
            pending = [
                p
                for p in page
                if p["lead_id"] in accepted and p["status"] in {"queued", "processing"}
            ]
            if not pending:
                break
            await asyncio.sleep(0.2)
        details = {lid: (await client.get(f"/admin/leads/{lid}")).json() for lid in accepted}
        outbox = (await client.get("/admin/outbox", params={"limit": 500})).json()["messages"]
    server.should_exit = True
    await serving

    header = (
        f"{'email':34} {'company':26} {'account':9} {'score':>5} {'gr':2} {'action':10} "
        f"{'team/queue':16} {'owner':6} {'ms':>6}"
    )
    print(header)
    print("-" * len(header))
    ms_values: list[float] = []
    for status, resp, _ in results:
        if status != 202:
            continue
        d = details[resp["lead_id"]]
        st = d["state"]
        routing = st.get("routing", {})
        match = st.get("enrichment", {}).get("account_match") or {}
        ms = st.get("deliveries", {}).get("ms_to_notify")
        if ms is not None:
            ms_values.append(float(ms))
        company = st.get("enrichment", {}).get("company", {}).get("name") or "—"
        repeat = routing.get("repeat_of") or (st.get("capture") or {}).get("duplicate_of")
        action = routing.get("action", "?") + (" ↻" if repeat else "")
        print(
            f"{d['email'][:34]:34} {company[:26]:26} {(match.get('account_id') or '—'):9} "
            f"{st.get('score', {}).get('total', 0):5.0f} {st.get('score', {}).get('grade', '?'):2} "
            f"{d['status'] if d['status'] != 'completed' else action:10} "
            f"{(routing.get('team') or routing.get('queue') or '—')[:16]:16} "
            f"{(routing.get('owner') or '—'):6} {ms if ms is not None else '—':>6}"
        )
    codes = Counter(status for status, _, _ in results)
    statuses = Counter(d["status"] for d in details.values())
    actions = Counter(d["state"].get("routing", {}).get("action", "?") for d in details.values())
    owners = Counter(
        d["state"].get("routing", {}).get("owner") or "(queue)"
        for d in details.values()
        if d["state"].get("routing", {}).get("action") in {"book", "draft"}
    )
    print()
    print(
        f"posted {len(results)} in {ack_s:.2f}s: {codes[202]} accepted (202), "
        f"{codes[200]} duplicates absorbed (200), {codes[422]} rejected (422)"
        + (
            f", other: {dict((k, v) for k, v in codes.items() if k not in (200, 202, 422))}"
            if set(codes) - {200, 202, 422}
            else ""
        )
    )
    print(f"leads: {len(details)} — " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print("per action: " + ", ".join(f"{k} {v}" for k, v in actions.most_common()))
    print("per owner (book/draft): " + ", ".join(f"{k} {v}" for k, v in owners.most_common()))
    repeats = [
        d["state"]
        for d in details.values()
        if (d["state"].get("capture") or {}).get("duplicate_of")
        or d["state"].get("routing", {}).get("repeat_of")
    ]
    if repeats:
        sticky = sum(1 for st in repeats if st.get("routing", {}).get("repeat_of"))
        print(
            f"repeats (↻): {len(repeats)} later messages from one person within the dedupe "
            f"window — {sticky} went where the first went (same rep or queue, no second "
            f"meeting), {len(repeats) - sticky} left the nurture queue as sales leads"
        )
    if ms_values:
        print(
            f"webhook → notify: p50 {_pct(ms_values, 0.5):.0f} ms, p95 {_pct(ms_values, 0.95):.0f} "
            f"ms, mean {statistics.fmean(ms_values):.0f} ms"
        )
    node_ms: dict[str, list[float]] = {}
    for d in details.values():
        for node, entry in d.get("timings", {}).items():
            node_ms.setdefault(node, []).append(float(entry["ms"]))
    print(
        "mean ms per node: "
        + ", ".join(f"{node} {statistics.fmean(v):.1f}" for node, v in node_ms.items())
    )
    for status, resp, _ in results:
        if status == 422:
            problems = "; ".join(f"{e['field']}: {e['problem']}" for e in resp.get("errors", []))
            print(f"rejected: {problems or resp.get('detail')}")
    print(
        f"\noutbox: {len(outbox)} rep messages in {data_dir / 'outbox.sqlite3'} "
        f"(also GET /admin/outbox); CRM: {data_dir / 'crm.sqlite3'}"
    )
    incomplete = statuses.get("queued", 0) + statuses.get("processing", 0)
    return 1 if incomplete or statuses.get("failed") else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the service on embedded defaults, post the sample leads and print the outcome."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_demo(Path(args.leads), Path(args.data_dir), args.timeout, args.rate))
    return 130


def cmd_eval(args: argparse.Namespace) -> int:
    """Measure decisions on labelled data; JSON summary on the last line."""
    if args.what == "match":
        from offline.evals.match import cli as run_eval
    elif args.what == "intent":
        from offline.evals.intent import cli as run_eval
    else:
        from offline.evals.score import cli as run_eval
    return run_eval(args.rest)


def cmd_learn(args: argparse.Namespace) -> int:
    """Fit the learned scorer on stored outcomes or a CSV export and make it current."""
    from offline.learn import cli as run_learn

    return run_learn(args.rest)


def cmd_model(args: argparse.Namespace) -> int:
    """List, show, activate, roll back, shadow and promote learned scoring models."""
    from offline.models import cli as run_model

    return run_model(args.rest)


def cmd_backtest(args: argparse.Namespace) -> int:
    """Replay historical leads through the current config, with no side effects."""
    from offline.backtest import cli as run_backtest

    return run_backtest(args.rest)


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure the service beside its baselines: webhook ack, pipeline, backtest, start-up, disk."""
    from offline.bench import cli as run_bench

    return run_bench(args.rest)


def cmd_check(args: argparse.Namespace) -> int:
    """Check the routing and scoring configs and the accounts file(s) as the service reads them."""
    from offline.check import cli as run_check

    return run_check(args.rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help=cmd_serve.__doc__, description=cmd_serve.__doc__)
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help=cmd_worker.__doc__, description=cmd_worker.__doc__)
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="leads run at once (default WORKER_CONCURRENCY)",
    )
    worker.set_defaults(func=cmd_worker)
    demo = sub.add_parser("demo", help=cmd_demo.__doc__, description=cmd_demo.__doc__)
    demo.add_argument(
        "--leads",
        default=str(ROOT / "infra" / "sample_leads.jsonl"),
        help="JSONL file of lead payloads (default: the synthetic samples)",
    )
    demo.add_argument(
        "--data-dir",
        default=str(ROOT / "data" / "demo"),
        help="where the demo's SQLite files go (wiped first)",
    )
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for leads")
    demo.add_argument(
        "--rate",
        type=float,
        default=20.0,
        help="leads posted per second (0: all at once, to see queueing)",
    )
    demo.set_defaults(func=cmd_demo)
    evaluate = sub.add_parser(
        "eval", help=cmd_eval.__doc__, description=cmd_eval.__doc__, add_help=False
    )
    evaluate.add_argument(
        "what",
        choices=["match", "score", "intent"],
        help="match: account matching; score: the learned scorer; intent: the intent rules",
    )
    evaluate.set_defaults(func=cmd_eval)
    for name, func in (
        ("learn", cmd_learn),
        ("model", cmd_model),
        ("backtest", cmd_backtest),
        ("check", cmd_check),
        ("bench", cmd_bench),
    ):
        command = sub.add_parser(name, help=func.__doc__, description=func.__doc__, add_help=False)
        command.set_defaults(func=func)
    args, rest = parser.parse_known_args(argv)
    args.rest = rest
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
