"""Lead Router's commands: serve the API, run workers, try it on sample leads, and check,
replay, measure and retrain its decisions offline. `python cli.py <command> --help` tells
more; settings come from .env and the environment (see .env.example)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.bulk import settle_started_heap

if TYPE_CHECKING:
    from service.wiring import Overrides

ROOT = Path(__file__).resolve().parent


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP API (and, with the in-process queue, the worker) under uvicorn."""
    from pydantic import SecretStr

    from service.settings import Settings, UnsupportedSetting, refuse_unsupported

    settings = Settings()
    given = {"host": args.host, "port": args.port}
    settings = settings.model_copy(update={k: v for k, v in given.items() if v is not None})
    try:  # the app refuses them too; checked first so the reason is one line, not a traceback
        refuse_unsupported(settings)
    except UnsupportedSetting as exc:
        return _refused("serve", exc)
    run_token = None
    if settings.admin_token is None and not settings.admin_open:
        # Closed by default, yet usable: the admin API and the console take a token made for
        # this run, shown only here.
        run_token = secrets.token_urlsafe(18)
        settings = settings.model_copy(update={"admin_token": SecretStr(run_token)})

    from app import create_app

    async def serve() -> int:
        started = await _start_server(create_app(settings), settings, "serve")
        if isinstance(started, int):
            return started
        _, serving = started
        settle_started_heap()
        if args.profile is not None:
            from service.profiling import profile_between_signals

            profile_between_signals(args.profile)
        base = f"http://{settings.host}:{settings.port}"
        print(_ready(settings, base, run_token), flush=True)
        await serving
        return 0

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(serve())
    return 0


async def _start_server(
    app: Any, settings: Any, command: str
) -> tuple[Any, asyncio.Task[None]] | int:
    """Start uvicorn on settings.host:settings.port and wait until it takes requests; when it
    cannot start, say why in one line (the traceback only in the debug log) and return 2."""
    import logging

    import structlog
    import uvicorn

    from service.startup import start_problem

    failures: list[BaseException] = []
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(the_app: Any) -> Any:
        started = False
        try:
            async with inner(the_app) as state:
                started = True
                yield state
        except Exception as exc:
            if not started:
                failures.append(exc)
            raise

    app.router.lifespan_context = lifespan
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level="warning", lifespan="on"
        )
    )
    # uvicorn prints a failed start-up as a traceback; this says it in one line instead.
    errors = logging.getLogger("uvicorn.error")
    errors.setLevel(logging.CRITICAL + 1)

    async def serve() -> None:
        with contextlib.suppress(SystemExit):  # how uvicorn ends a start that failed
            await server.serve()

    serving = asyncio.create_task(serve())
    while not server.started:
        if serving.done():
            if failures:
                structlog.get_logger("lead_router.cli").debug("start failed", exc_info=failures[0])
                why = start_problem(failures[0], settings)
            else:
                why = (
                    f"could not listen on {settings.host}:{settings.port}; is another process "
                    "using that port? (--port or PORT to choose another)"
                )
            print(f"{command}: cannot start: {why}", file=sys.stderr)
            return 2
        await asyncio.sleep(0.05)
    errors.setLevel(logging.WARNING)
    return server, serving


def _ready(settings: Any, base: str, run_token: str | None) -> str:
    """What `serve` says once it takes requests: where, on what, and who may call what."""
    from service.settings import access, backends

    lines = [f"Lead Router is ready on {base} (console: {base}/console)", ""]
    lines += [f"  {name:<15} {backend}" for name, backend in backends(settings).items()]
    links = settings.public_url + (
        ""
        if settings.public_base_url
        else " (set PUBLIC_BASE_URL to the address reps and leads reach)"
    )
    lines += [f"  {'links':<15} {links}"]
    lines += ["", "  who may call what:"]
    lines += [f"  {route:<35} {who}" for route, who in access(settings).items()]
    if run_token:
        lines += [
            "",
            f"  admin token for this run: {run_token}",
            "  (for the console's sign-in and Authorization: Bearer; set ADMIN_TOKEN to keep one)",
        ]
    return "\n".join(lines)


SHUTDOWN_S = 10.0
# A worker told to stop has left by then, whatever it still waits for (a backend closing, a
# thread on a locked file): under the 30 s most supervisors allow before they kill.
EXIT_DEADLINE_S = 25.0
DEMO_MARKER = ".demo"


async def _worker(concurrency: int | None, overrides: Overrides | None = None) -> int:
    """Run a queue worker until SIGINT/SIGTERM; `overrides` replace adapters (tests only)."""
    import structlog
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
    async with contextlib.AsyncExitStack() as stack:
        try:
            services = await stack.enter_async_context(open_services(settings, overrides))
            services.broker.is_worker_process = True
            await services.broker.startup()
        except Exception as exc:
            from service.startup import start_problem

            structlog.get_logger("lead_router.cli").debug("start failed", exc_info=exc)
            print(f"worker: cannot start: {start_problem(exc, settings)}", file=sys.stderr)
            return 2
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
            # The stream keeps queued leads; the sweep re-queues only those it lost (queued past
            # QUEUE_REDELIVER_AFTER_MS with no lease) and those left processing.
            asyncio.create_task(services.sweep(settings.redeliver_after_ms / 1000)),
        ]
        settle_started_heap()
        print(f"worker ready (queue {settings.queue_name}, pid {os.getpid()})", flush=True)
        await stop.wait()
        deadline = threading.Timer(EXIT_DEADLINE_S, _leave_now, args=("worker",))
        deadline.daemon = True
        deadline.start()
        for task in tasks:
            task.cancel()
        # Shutdown is bounded: a lead still running is not acknowledged, so the stream hands
        # it to another worker once it has lain untouched for LEASE_TTL_MS, and its checkpoint
        # resumes it.
        try:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), SHUTDOWN_S)
            await asyncio.wait_for(services.broker.shutdown(), SHUTDOWN_S)
        except TimeoutError:
            print(f"worker: shutdown took over {SHUTDOWN_S:g} s; leaving", file=sys.stderr)
    metrics.exited()
    return 0


def _leave_now(command: str) -> None:
    """End the process at once (exit status 1), saying so: what it was still running is not
    acknowledged, so the queue hands it on and its checkpoint resumes it."""
    print(f"{command}: still stopping after {EXIT_DEADLINE_S:g} s; leaving now", file=sys.stderr)
    sys.stderr.flush()
    os._exit(1)


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


def _fresh_demo_dir(data_dir: Path) -> str | None:
    """Empty `data_dir` for the demo and mark it as the demo's; refuse (saying why) when it
    holds data the demo did not write."""
    marker = data_dir / DEMO_MARKER
    if data_dir.is_dir() and any(data_dir.iterdir()) and not marker.is_file():
        return (
            f"{data_dir} holds data the demo did not write; the demo wipes its folder before "
            "each run, so pass --data-dir with another one"
        )
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    marker.write_text("written by `python cli.py demo`, which wipes this folder when run again\n")
    return None


async def _demo(leads_file: Path, data_dir: Path, timeout_s: float, rate: float) -> int:
    import httpx

    from app import create_app
    from service.settings import UnsupportedSetting, given_settings, refuse_unsupported

    # The demo's own settings: embedded backends, nothing to sign, its own server open to it
    # alone (a random port on 127.0.0.1); neither .env nor the environment reaches them.
    values: dict[str, Any] = {}
    # Its links point where `make serve` shows the same data. Logs only errors: the demo's
    # own server is open to its caller alone, which the start log would warn about.
    values.update(
        DATA_DIR=data_dir,
        LOG_LEVEL="ERROR",
        ADMIN_OPEN=True,
        SHADOW_MODE=False,
        PUBLIC_BASE_URL="http://127.0.0.1:8000",
    )
    settings = given_settings(values)
    try:  # before uvicorn, which would print a traceback instead
        refuse_unsupported(settings)
    except UnsupportedSetting as exc:
        return _refused("demo", exc)
    refused = await asyncio.to_thread(_fresh_demo_dir, data_dir)
    if refused:
        print(f"demo: {refused}", file=sys.stderr)
        return 2
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": _free_port()})
    started = await _start_server(create_app(settings), settings, "demo")
    if isinstance(started, int):
        return started
    server, serving = started
    port = settings.port
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

        began = time.perf_counter()
        for payload in lines:  # in file order, so duplicates follow their originals
            await post(payload)
            if rate > 0:
                await asyncio.sleep(1 / rate)
        ack_s = time.perf_counter() - began
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

    print(_demo_table(results, details))
    ms_values = [
        float(d["state"]["deliveries"]["ms_to_notify"])
        for d in details.values()
        if d["state"].get("deliveries", {}).get("ms_to_notify") is not None
    ]
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
    print(
        f"\noutbox: {len(outbox)} rep messages in {data_dir / 'outbox.sqlite3'} "
        f"(also GET /admin/outbox); CRM: {data_dir / 'crm.sqlite3'}"
    )
    served = "" if data_dir == ROOT / "data" else f"DATA_DIR={data_dir} "
    print(
        f"console: {served}make serve, then open http://127.0.0.1:8000/console and sign in "
        "with the token it prints"
    )
    incomplete = statuses.get("queued", 0) + statuses.get("processing", 0)
    if not accepted:
        print("demo: no lead was accepted; every payload was refused", file=sys.stderr)
        return 1
    return 1 if incomplete or statuses.get("failed") else 0


# The demo table: (title, width, align); a longer value is cut with an ellipsis.
DEMO_COLUMNS = (
    ("email", 30, "<"),
    ("company", 24, "<"),
    ("account", 8, "<"),
    ("score", 5, ">"),
    ("gr", 2, "<"),
    ("intent", 8, "<"),
    ("action", 9, "<"),
    ("rule or method", 16, "<"),
    ("team/queue", 15, "<"),
    ("owner", 6, "<"),
    ("ms", 5, ">"),
)
_DETAIL = re.compile(r" \((?:[^()]|\([^()]*\))*\)$")
INTENT_SHORT = {"partnership": "partner", "job_seeker": "job"}


def _cell(value: object, width: int, align: str = "<") -> str:
    """`value` in `width` characters, cut with an ellipsis when longer."""
    text = "—" if value is None or value == "" else str(value)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return f"{text:{align}{width}}"


def _demo_row(values: list[object]) -> str:
    return " ".join(
        _cell(v, width, align) for v, (_, width, align) in zip(values, DEMO_COLUMNS, strict=True)
    ).rstrip()


def _demo_table(
    results: list[tuple[int, dict[str, Any], dict[str, Any]]], details: dict[str, Any]
) -> str:
    """One row per posted payload in the order posted: a lead with its intent, how it was
    routed and the main reasons for its score (indented below), a duplicate delivery or a
    rejected payload; ↻ marks a repeat (a later message from the same person)."""
    header = _demo_row([title for title, _, _ in DEMO_COLUMNS])
    width = len(header)
    lines = [header, "-" * width]
    for status, resp, payload in results:
        email = payload.get("email") if isinstance(payload.get("email"), str) else "(no email)"
        if status == 200 and resp.get("duplicate"):
            lines.append(f"{_cell(email, 30)} = a duplicate delivery, absorbed: no second lead")
            continue
        if status != 202:
            problems = "; ".join(f"{e['field']}: {e['problem']}" for e in resp.get("errors", []))
            lines.append(
                f"{_cell(email, 30)} ✗ rejected ({status}): {problems or resp.get('detail')}"
            )
            continue
        d = details[resp["lead_id"]]
        st = d["state"]
        routing = st.get("routing", {})
        score = st.get("score", {})
        match = st.get("enrichment", {}).get("account_match") or {}
        repeat = routing.get("repeat_of") or (st.get("capture") or {}).get("duplicate_of")
        intent = st.get("classification", {}).get("intent")
        action = routing.get("action", "—") if d["status"] == "completed" else d["status"]
        ms = st.get("deliveries", {}).get("ms_to_notify")
        lines.append(
            _demo_row(
                [
                    d["email"],
                    st.get("enrichment", {}).get("company", {}).get("name"),
                    match.get("account_id"),
                    f"{score.get('total', 0):.0f}",
                    score.get("grade"),
                    INTENT_SHORT.get(str(intent), intent),
                    action + (" ↻" if repeat else ""),
                    routing.get("rule") or routing.get("method"),
                    routing.get("team") or routing.get("queue"),
                    routing.get("owner"),
                    f"{ms:.0f}" if ms is not None else None,
                ]
            )
        )
        ranked = sorted(score.get("contributions", []), key=lambda c: -abs(c["points"]))
        # The reasons without the details in their last brackets ("1,000+ employees (5,010)").
        why = " · ".join(f"{c['points']:+.0f} {_DETAIL.sub('', c['reason'])}" for c in ranked[:3])
        if why:
            lines.append(_cell("    " + why, width).rstrip())
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the service on embedded defaults, post the sample leads and print the outcome."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_demo(Path(args.leads), Path(args.data_dir), args.timeout, args.rate))
    return 130


def cmd_eval(args: argparse.Namespace) -> int:
    """Measure decisions on labelled data; JSON summary on the last line."""
    if args.what is None:
        asked = bool({"-h", "--help"} & set(args.rest))
        print(args.usage.format_help(), file=sys.stdout if asked else sys.stderr, end="")
        return 0 if asked else 2
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
    from offline.bench_profile import main as profile

    return run_bench(args.rest, profile)


def cmd_check(args: argparse.Namespace) -> int:
    """Check the routing and scoring configs and the accounts file(s) as the service reads them."""
    from offline.check import cli as run_check

    return run_check(args.rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    serve = sub.add_parser("serve", help=cmd_serve.__doc__, description=cmd_serve.__doc__)
    serve.add_argument(
        "--host",
        help="address to listen on (default: HOST from .env or the environment, else 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=int,
        help="port to listen on (default: PORT from .env or the environment, else 8000)",
    )
    serve.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="profile the server from SIGUSR1 until SIGUSR2, then write the statistics to FILE "
        "(pstats; `python -m pstats FILE` reads them)",
    )
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
        default=str(ROOT / "data"),
        help="where the demo's SQLite files go: serve's default, so `make serve` shows them; "
        "wiped first, and refused when it holds data the demo did not write",
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
        "eval",
        help=cmd_eval.__doc__,
        description=f"{cmd_eval.__doc__} `python cli.py eval <what> --help` lists the "
        "options of each.",
        add_help=False,  # `eval match --help` is the match evaluation's own help
    )
    evaluate.add_argument(
        "what",
        nargs="?",
        choices=["match", "score", "intent"],
        help="match: account matching; score: the learned scorer; intent: the intent rules",
    )
    evaluate.set_defaults(func=cmd_eval, usage=evaluate)
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
    from pydantic import ValidationError

    from service.settings import Settings
    from service.startup import settings_problem

    try:
        return int(args.func(args))
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        print(f"{args.command}: cannot start: {settings_problem(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
