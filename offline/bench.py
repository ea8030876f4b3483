"""Bench: the service measured beside its baselines in one run (`python cli.py bench`).

Every measure is taken in rounds, the service and its baseline one after the other in each
round, and reported as the median over the rounds with the ratio service ÷ baseline:

- webhook ack: requests per second and p99 latency of `POST /webhooks/lead` under a closed
  loop of keep-alive connections, for distinct leads and for duplicates (leads already taken),
  in default mode (the graph runs in the API process) and in queue mode (Redis store and
  stream, no worker running), against a bare FastAPI app parsing the same `LeadIn` model
  (`offline/bare_app.py`). Each server is `uvicorn` in a process of its own, started as
  `cli.py serve` starts the service; the load comes from `offline/loadgen.py` in another.
  Paced: the p99 latency when leads arrive at a fixed rate, whatever the answers.
- pipeline: leads per second from queued to done, through the real graph and runner, against
  a null graph (the lead path's node names, nodes that do nothing) run on the same
  checkpointer with `durability="sync"` and the same concurrency: on SQLite in one process,
  and on PostgreSQL with the Redis queue and 1 or 2 `cli.py worker` processes (the null graph
  in as many processes of its own).
- backtest: `offline.backtest` over generated leads against the 5-node null graph with no
  checkpointer.
- start-up: the time to open the services and the process's peak RSS with 1k, 10k and 100k
  generated accounts, each in a fresh process, against no accounts; a restart on the largest
  one's data; the worst single match among unmatched names at the largest size, against the
  same names at the smallest.
- disk: bytes the data directory grows by per lead, against the null graph's checkpoints.

Leads and accounts are synthetic (`infra/make_samples.py`'s vocabulary), written to a
temporary directory with every data directory the bench uses. Redis and PostgreSQL are used
under names of this run's own (a key prefix and queue in one database, a schema), deleted at
the end; without them the measures that need them are listed as skipped, with the reason.

The report ends with a JSON summary on the last line, also written to `--out` (default
`docs/bench/last.json`, beside the committed full runs and not committed itself, and outside
DATA_DIR, which `demo` wipes); `--compare FILE` prints an earlier summary's figures beside.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import multiprocessing
import operator
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlparse

from offline import loadgen
from offline.loadgen import Load, distinct

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

    from service.settings import Settings
    from service.wiring import Services

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/14"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
LEAD_PATH = ("capture", "enrich", "classify", "score", "route", "book", "draft", "notify")
NULL_PIPELINE = (*LEAD_PATH, "wait_for_rep")
NULL_BACKTEST = LEAD_PATH[:5]
MODES = {"default": "default mode", "queue": "queue mode"}
SEED = 20261104
LAST_RUN = ROOT / "docs" / "bench" / "last.json"


@dataclass(frozen=True)
class Plan:
    """How much of everything one run does."""

    rounds: int = 3
    connections: int = 32
    ack_s: float = 3.0
    warmup_s: float = 0.5
    paced_rate: float = 90.0
    paced_s: float = 5.0
    duplicates: int = 50
    pipeline_leads: int = 200
    queue_leads: int = 150
    warmup_leads: int = 32  # through each pipeline and its null graph before round 1
    backtest_leads: int = 2000
    accounts: tuple[int, ...] = (1_000, 10_000, 100_000)
    restart: bool = True
    match_repeats: int = 5


QUICK = Plan(
    rounds=1,
    ack_s=0.5,
    warmup_s=0.2,
    paced_s=0.5,
    duplicates=10,
    pipeline_leads=20,
    queue_leads=20,
    warmup_leads=4,
    backtest_leads=100,
    accounts=(1_000,),
    restart=False,
    match_repeats=1,
)


@dataclass(frozen=True)
class Target:
    """What a measure should reach: a bound on its ratio or on its value."""

    of: Literal["ratio", "value"]
    op: Literal[">=", "<", "<="]
    bound: float

    def met(self, value: float, ratio: float) -> bool:
        compare = {">=": operator.ge, "<": operator.lt, "<=": operator.le}[self.op]
        return bool(compare(ratio if self.of == "ratio" else value, self.bound))

    def text(self, unit: str) -> str:
        op = {">=": "≥", "<": "<", "<=": "≤"}[self.op]
        return f"{op} {self.bound:g}×" if self.of == "ratio" else f"{op} {self.bound:g} {unit}"


@dataclass(frozen=True)
class Measure:
    """One figure of the service, its baseline in the same run, and their ratio."""

    name: str
    title: str
    unit: str
    value: float
    baseline: str
    baseline_value: float
    better: Literal["higher", "lower"]
    conditions: str
    target: Target | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else 0.0

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = round(self.ratio, 4)
        out["value"], out["baseline_value"] = _round(self.value), _round(self.baseline_value)
        if self.target is not None:
            out["target"] = {
                **asdict(self.target),
                "text": self.target.text(self.unit),
                "met": self.target.met(self.value, self.ratio),
            }
        return out


class BenchError(RuntimeError):
    """A part of the bench could not run; the message says why."""


def _round(x: float) -> float:
    return round(x, 3 if abs(x) < 100 else 1)


# Synthetic data ---------------------------------------------------------------------------------


def sample_leads(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`n` form payloads from people at the sample accounts (`infra/accounts.csv`), a fifth
    from free-mail addresses; each a different person (`distinct`)."""
    from infra.make_samples import FREEMAIL, LeadMaker, make_accounts

    rng = random.Random(seed)
    accounts = make_accounts(random.Random(SEED))  # the rows of infra/accounts.csv
    maker = LeadMaker(rng)
    intents = ["demo"] * 18 + ["pricing"] * 13 + ["other"] * 16 + ["support"] * 6
    intents += ["partnership"] * 4
    leads = []
    for i in range(n):
        maker.used.clear()  # `distinct` makes every address unique
        intent, account = rng.choice(intents), rng.choice(accounts)
        if rng.random() < 0.2:
            lead = maker.lead(intent, account["name"], rng.choice(FREEMAIL), account["country"])
        else:
            lead = maker.lead(
                intent,
                account["name"],
                account["domain"],
                account["country"],
                account["website"],
                account,
            )
        lead.pop("_expect")
        leads.append(distinct(lead, f"s{seed}-{i}"))
    return leads


ONSETS = ["b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "k", "kl", "l", "m"]
ONSETS += ["n", "p", "pr", "r", "s", "sk", "st", "t", "tr", "v", "w", "z"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
CODAS = ["", "", "", "n", "r", "s", "l", "x", "th", "nd"]


def _brand(rng: random.Random) -> str:
    syllables = rng.choice((2, 2, 3))
    word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(syllables))
    return (word + rng.choice(CODAS)).capitalize()


def synthetic_accounts(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`n` accounts with the ACCOUNTS_CSV columns: a made-up brand, an industry word and a
    country's legal form each, a third of them owned by a rep of `infra/routing.yaml`."""
    from infra.make_samples import COUNTRIES, INDUSTRIES, INDUSTRY_NOUNS, REPS, place, slug

    rng = random.Random(seed)
    brands: dict[str, None] = {}
    while len(brands) < n:
        brands[_brand(rng)] = None
    rows = []
    for i, brand in enumerate(brands):
        code = rng.choice(list(COUNTRIES))
        country = COUNTRIES[code]
        industry = rng.choice(INDUSTRIES)
        employees = max(12, int(12 * (80_000 / 12) ** rng.random()))
        city, state = place(rng, code)
        domain = slug(brand) + country.tld
        owner = ""
        if rng.random() < 1 / 3:
            key = country.region if country.region in REPS else "small"
            owner = f"{rng.choice(REPS[key])}@example.com"
        rows.append(
            {
                "account_id": f"ACC-{100_000 + i}",
                "name": f"{brand} {rng.choice(INDUSTRY_NOUNS[industry])} {country.legal}",
                "domain": domain,
                "website": f"https://www.{domain}",
                "owner_email": owner,
                "industry": industry,
                "employees": employees,
                "country": code,
                "state": state,
                "city": city,
                "parent_account_id": "",
            }
        )
    return rows


def unmatched_names(accounts: list[dict[str, Any]], seed: int = SEED + 1) -> list[str]:
    """Company names no account has, sharing the most words and near-spellings with many."""
    from infra.make_samples import INDUSTRY_NOUNS

    taken = {row["name"].split()[0] for row in accounts}
    rng = random.Random(seed)
    unknown = [b for b in (_brand(rng) for _ in range(200)) if b not in taken][:2]
    nouns = [noun for nouns in INDUSTRY_NOUNS.values() for noun in nouns]
    return [
        f"{unknown[0]} {' '.join(nouns[:4])}",
        f"{unknown[1]} {nouns[4]} {nouns[6]} Holdings International Group",
        " ".join(noun[:-1] for noun in nouns[:3]),  # typos of common words
        f"{unknown[0]}{unknown[1].lower()}",
    ]


def write_accounts(path: Path, rows: list[dict[str, Any]]) -> Path:
    import csv

    from tools.directory import ACCOUNT_COLUMNS

    columns = [c for c in ACCOUNT_COLUMNS if c != "aliases"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


# Settings and processes --------------------------------------------------------------------------


def settings_for(values: dict[str, Any]) -> Settings:
    """Settings from their defaults and `values` only: the environment and `.env` are not read,
    so the bench measures the same service whatever the shell it runs in."""
    from service.settings import Settings

    defaults = {
        f.alias: f.get_default(call_default_factory=True)
        for f in Settings.model_fields.values()
        if f.alias
    }
    return Settings(_env_file=None, **{**defaults, **values})  # type: ignore[call-arg]


def env_for(values: dict[str, Any]) -> dict[str, str]:
    """A child process's environment: no service setting but `values`."""
    from service.settings import Settings

    ours = {f.alias for f in Settings.model_fields.values()}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update({k: str(v) for k, v in values.items()})
    env["PYTHONPATH"] = str(ROOT)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def _tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace") if path.is_file() else ""
    return " | ".join(text.strip().splitlines()[-lines:])


@dataclass
class Child:
    """A process of the service (or the bare app) for the bench: how to start it, how to tell
    it is up."""

    what: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready: Callable[[], bool]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def started(children: list[Child]) -> Iterator[list[Child]]:
    """Start the children together and wait until each is up; kill them when the block ends."""
    try:
        for child in children:
            with child.log.open("ab") as out:
                child.proc = subprocess.Popen(
                    child.argv, env=child.env, cwd=child.log.parent, stdout=out, stderr=out
                )
        deadline = time.monotonic() + 180
        for child in children:
            assert child.proc is not None
            while not child.ready():
                if child.proc.poll() is not None:
                    raise BenchError(f"{child.what} exited: {_tail(child.log)}")
                if time.monotonic() > deadline:
                    raise BenchError(f"{child.what} not up after 180 s: {_tail(child.log)}")
                time.sleep(0.05)
        yield children
    finally:
        for child in children:
            child.stop()


def _fresh_process_pool(size: int = 1, **kwargs: Any) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("spawn"), **kwargs)


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# Graph runs (in this process, or in a process of their own) ------------------------------------


def null_graph(
    nodes: tuple[str, ...], checkpointer: BaseCheckpointSaver[Any] | None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The lead state's graph with `nodes` in a line, each doing nothing."""
    from langgraph.graph import END, START, StateGraph

    from graph.state import LeadState

    async def nothing(state: LeadState) -> dict[str, Any]:
        return {}

    builder = StateGraph(LeadState)
    previous = START
    for name in nodes:
        builder.add_node(name, nothing)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder.compile(checkpointer=checkpointer, name="null")


async def run_null(
    graph: CompiledStateGraph[Any, Any, Any, Any], leads: list[dict[str, Any]], concurrency: int
) -> float:
    """Seconds to run `leads` through `graph`, `concurrency` at a time, as the runner calls it
    (`durability="sync"`) when it has a checkpointer."""
    from graph.state import initial_state

    gate = asyncio.Semaphore(concurrency)
    received = datetime.now(UTC).isoformat()

    async def one(lead: dict[str, Any]) -> None:
        lead_id = str(uuid.uuid5(uuid.NAMESPACE_URL, str(lead["event_id"])))
        async with gate:
            state = initial_state(lead_id, received, "bench", lead)
            config: RunnableConfig = {"configurable": {"thread_id": lead_id}}
            if graph.checkpointer is None:  # as the backtest runs it
                await graph.ainvoke(state, config)
            else:
                await graph.ainvoke(state, config, durability="sync")

    started = time.perf_counter()
    await asyncio.gather(*(one(lead) for lead in leads))
    return time.perf_counter() - started


async def claim(services: Services, leads: list[dict[str, Any]]) -> list[str]:
    """Take `leads` as the webhook does, without queueing them yet: their lead ids."""
    from domain.intake import LeadIn
    from service.admission import take_lead

    async def later(lead_id: str) -> None:
        return None

    ids = []
    for lead in leads:
        taken = await take_lead(services.store, later, LeadIn.model_validate(lead), lead, None)
        ids.append(taken.lead_id)
    return ids


async def statuses(services: Services, ids: list[str]) -> dict[str, int]:
    """How many of the leads `ids` are in each status."""
    records = [await services.store.get_lead(lead_id) for lead_id in ids]
    return dict(Counter(r.status if r else "missing" for r in records))


async def pipeline_in_process(
    values: dict[str, Any], leads: list[dict[str, Any]], profile: cProfile.Profile | None = None
) -> dict[str, Any]:
    """Queue `leads` on the in-process queue and time them to done (default mode), the start's
    heap settled as `serve` settles it; `profile` runs while they are timed."""
    from domain.bulk import settle_started_heap
    from service.wiring import open_services

    async with open_services(settings_for(values)) as services:
        await services.broker.startup()
        settle_started_heap()
        ids = await claim(services, leads)
        with profile or contextlib.nullcontext():
            started = time.perf_counter()
            for lead_id in ids:
                await services.enqueue(lead_id)
            await services.drain(timeout_s=900)
            seconds = time.perf_counter() - started
        done = await statuses(services, ids)
        await services.broker.shutdown()
    return {"per_s": len(ids) / seconds, "statuses": done}


async def null_in_process(
    values: dict[str, Any], leads: list[dict[str, Any]], profile: cProfile.Profile | None = None
) -> float:
    """Leads per second of the null lead graph on the checkpointer `values` open, the heap
    settled as for the service; `profile` runs while they are timed."""
    from domain.bulk import settle_started_heap
    from service.wiring import open_services

    settings = settings_for(values)
    async with open_services(settings) as services:
        graph = null_graph(NULL_PIPELINE, services.checkpointer)
        settle_started_heap()
        with profile or contextlib.nullcontext():
            return len(leads) / await run_null(graph, leads, settings.worker_concurrency)


_CREW: tuple[Any, Any] | None = None


def _join_crew(ready: Any, go: Any) -> None:
    global _CREW
    _CREW = (ready, go)


def _null_in_crew(values: dict[str, Any], leads: list[dict[str, Any]]) -> tuple[float, float]:
    """In a crew process: open the services, say so, wait for the others, run the null graph;
    the wall-clock start and end."""
    from service.logs import configure_logging
    from service.wiring import open_services

    assert _CREW is not None
    ready, go = _CREW
    configure_logging("WARNING")
    settings = settings_for(values)

    async def run() -> tuple[float, float]:
        async with open_services(settings) as services:
            graph = null_graph(NULL_PIPELINE, services.checkpointer)
            ready.put(os.getpid())
            await asyncio.to_thread(go.wait)
            began = time.time()
            await run_null(graph, leads, settings.worker_concurrency)
            return began, time.time()

    return asyncio.run(run())


class Crew:
    """Processes of their own that run the null graph together, started at one signal."""

    def __init__(self, size: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.go = ctx.Queue(), ctx.Event()
        self.pool = _fresh_process_pool(
            size, initializer=_join_crew, initargs=(self.ready, self.go)
        )

    def run(self, values: dict[str, Any], chunks: list[list[dict[str, Any]]]) -> float:
        """Leads per second of all chunks, one per process, from the first start to the last
        end."""
        futures = [self.pool.submit(_null_in_crew, values, chunk) for chunk in chunks]
        try:
            for _ in chunks:
                self.ready.get(timeout=180)
        except Exception as exc:
            for future in futures:
                if future.done() and future.exception():
                    raise BenchError(f"null graph process failed: {future.exception()}") from exc
            raise BenchError("null graph processes did not start") from exc
        self.go.set()
        spans = [future.result() for future in futures]
        self.go.clear()
        total = sum(len(chunk) for chunk in chunks)
        return total / (max(end for _, end in spans) - min(began for began, _ in spans))

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started its program (Linux's VmHWM: unlike
    `ru_maxrss`, not inherited from the parent it was forked from)."""
    import resource

    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def aside_peak_rss_mb() -> float:
    """The peak resident memory of the children this process waited for (the start-up's work
    aside, `tools.aside`), counting the pages a child shares with this process since the fork:
    an upper bound on what it added."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def open_probe(values: dict[str, Any], names: list[str], repeats: int) -> dict[str, Any]:
    """In a fresh process: import the service, open it, match `names`; times and peak RSS."""
    began = time.perf_counter()
    from service.logs import configure_logging
    from service.wiring import open_services

    imported = time.perf_counter()
    configure_logging("WARNING")
    settings = settings_for(values)

    async def probe() -> dict[str, Any]:
        opening = time.perf_counter()
        async with open_services(settings) as services:
            opened = time.perf_counter() - opening
            matcher = services.context.matcher
            times: dict[str, list[float]] = defaultdict(list)
            matched = set()
            for name in names * repeats:
                start = time.perf_counter()
                if matcher.match(company_name=name) is not None:
                    matched.add(name)
                times[name].append((time.perf_counter() - start) * 1000)
        return {
            "import_s": imported - began,
            "open_s": opened,
            "rss_mb": peak_rss_mb(),
            "aside_rss_mb": aside_peak_rss_mb(),
            "match_ms": max(statistics.median(ms) for ms in times.values()),
            "matched": sorted(matched),
        }

    return asyncio.run(probe())


# The run ---------------------------------------------------------------------------------------


class Samples:
    """Figures collected round by round; `median` of each."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)
        self.notes: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, key: str, value: float) -> None:
        self.values[key].append(value)

    def median(self, key: str) -> float:
        return statistics.median(self.values[key])


class Bench:
    """One run: its plan, scratch directory, backends and what it measured."""

    def __init__(self, plan: Plan, scratch: Path, redis_url: str, postgres_url: str) -> None:
        self.plan = plan
        self.scratch = scratch
        self.started = time.monotonic()
        self.run_id = uuid.uuid4().hex[:8]
        self.measures: list[Measure] = []
        self.skipped: list[dict[str, Any]] = []
        self.failed: list[dict[str, str]] = []
        self.redis_url, self.redis_problem = redis_url, _redis_problem(redis_url)
        self.postgres_url, self.postgres_problem = postgres_url, _postgres_problem(postgres_url)
        self.schema = f"lrbench_{self.run_id}"
        self.samples = Samples()

    # Reporting while running

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.0f} s] {text}", file=sys.stderr, flush=True)

    def skip(self, names: list[str], reason: str) -> None:
        self.skipped.append({"measures": names, "reason": reason})
        self.say(f"skipped {', '.join(names)}: {reason}")

    def conditions(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}",
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "client": "offline/loadgen.py: asyncio keep-alive HTTP/1.1 on raw sockets, "
            "in a process of its own",
            "rounds": plan.rounds,
            "plan": asdict(plan),
            "backends": {
                "redis": self.redis_problem
                or f"{self.redis_url} (keys and queues *{self.run_id}*)",
                "postgresql": self.postgres_problem
                or f"{_without_password(self.postgres_url)} (schema {self.schema})",
            },
        }

    # Backends

    def queue_values(self, tag: str) -> dict[str, Any]:
        """Settings of queue mode under this run's own Redis names."""
        return {
            "REDIS_URL": self.redis_url,
            "QUEUE_URL": self.redis_url,
            "REDIS_PREFIX": f"lrbench:{self.run_id}:{tag}:",
            "QUEUE_NAME": f"lrbench-{self.run_id}-{tag}",
        }

    def postgres_values(self) -> dict[str, Any]:
        sep = "&" if "?" in self.postgres_url else "?"
        options = quote(f"-csearch_path={self.schema}")
        return {"DATABASE_URL": f"{self.postgres_url}{sep}options={options}"}

    def clean_up(self) -> None:
        if not self.redis_problem:
            import redis

            client = redis.Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(match=f"*{self.run_id}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
        if not self.postgres_problem:
            import psycopg

            with psycopg.connect(self.postgres_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    # Servers

    def server(self, kind: str, tag: str, profile: Path | None = None) -> Child:
        """The bare app (with one Redis round trip a request: `bare_redis`), or the service in
        default or queue mode, on a free port; `profile`: where it writes its profile between
        SIGUSR1 and SIGUSR2 (the service and `bare_redis`)."""
        port = _free_port()
        home = self.scratch / f"ack-{kind}-{tag}"
        home.mkdir()
        if kind in ("bare", "bare_redis"):
            factory = "create_bare_app" if kind == "bare" else "create_bare_redis_app"
            argv = [sys.executable, "-m", "uvicorn", f"offline.bare_app:{factory}"]
            argv += ["--factory", "--host", "127.0.0.1", "--port", str(port)]
            argv += ["--log-level", "warning"]
            values: dict[str, Any] = {}
            if kind == "bare_redis":
                values = {
                    "BARE_REDIS_URL": self.redis_url,
                    "BARE_REDIS_KEY": f"lrbench:{self.run_id}:{tag}:bare",
                }
                if profile is not None:
                    values["BARE_PROFILE"] = profile
        else:
            argv = [sys.executable, str(ROOT / "cli.py"), "serve", "--port", str(port)]
            argv += ["--profile", str(profile)] if profile is not None else []
            values = {"DATA_DIR": home / "data"}
            if kind == "queue":
                values |= self.queue_values(f"ack{tag}")
        log = home / "server.log"
        return Child(kind, argv, env_for(values), log, lambda: _listening(port), port)


def _redis_problem(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        return f"Redis not reachable at {url}: {type(exc).__name__}: {exc}"
    return None


def _postgres_problem(url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"PostgreSQL not reachable at {_without_password(url)}: {first}"
    return None


def _without_password(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def _commit() -> str | None:
    """The checkout's commit, `-dirty` when files differ from it (None outside a checkout)."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return described.stdout.strip() or None


def _metrics_idle(port: int) -> bool:
    """Whether the service on `port` runs no lead now (its /metrics queue depth is 0)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    depth = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(("lead_router_queue_depth{", "lead_router_leads_running"))
    ]
    return not any(depth)


# Sections --------------------------------------------------------------------------------------


# Default mode runs the leads it takes: its paced load gets a server of its own, so the
# backlog of the closed loops does not slow it down.
SITTINGS: dict[str, list[tuple[str, ...]]] = {
    "bare": [("duplicate", "distinct", "paced")],
    "bare_redis": [("duplicate",)],
    "default": [("duplicate", "distinct"), ("paced",)],
    "queue": [("duplicate", "distinct", "paced")],
}


def ack(bench: Bench) -> None:
    """Webhook ack: the bare app, default mode and queue mode in turn, every round."""
    plan, samples = bench.plan, bench.samples
    kinds = ["bare", "default"]
    if bench.redis_problem:
        bench.skip(
            ["ack.queue.distinct", "ack.queue.duplicate", "paced.queue", "ack.bare_redis"],
            bench.redis_problem,
        )
    else:
        kinds += ["queue", "bare_redis"]
    leads = sample_leads(500)
    with _fresh_process_pool() as client:

        def send(load: Load) -> loadgen.Result:
            return client.submit(loadgen.run, load).result()

        for r in range(plan.rounds):
            # The round's servers start together, then are measured one at a time; each is
            # stopped once measured, so a backlog left running takes no time from the next.
            sittings = [(kind, phases) for kind in kinds for phases in SITTINGS[kind]]
            servers = [bench.server(kind, f"{r}{i}") for i, (kind, _) in enumerate(sittings)]
            bench.say(f"ack round {r + 1}/{plan.rounds}: starting {len(servers)} servers")
            with started(servers):
                for (kind, phases), server in zip(sittings, servers, strict=True):
                    bench.say(f"ack round {r + 1}/{plan.rounds}: {kind} {', '.join(phases)}")
                    for phase in phases:
                        result = _ack_phase(bench, send, server.port, kind, phase, leads, f"r{r}")
                        key = f"{kind}.{phase}"
                        samples.add(f"{key}.per_s", result.per_s)
                        samples.add(f"{key}.p99", result.percentile_ms(0.99))
                        samples.add(f"{key}.p50", result.percentile_ms(0.5))
                        samples.notes[key].update(
                            {f"HTTP {code}": n for code, n in result.statuses.items()}
                        )
                        if result.failures:
                            samples.notes[key]["connection failures"] += result.failures
                    server.stop()
    closed = (
        f"closed loop, {plan.connections} connections, {plan.ack_s:g} s after "
        f"{plan.warmup_s:g} s warm-up"
    )
    for mode in (kind for kind in kinds if kind in MODES):
        for phase in ("distinct", "duplicate"):
            key = f"{mode}.{phase}"
            what = (
                "every request a new lead"
                if phase == "distinct"
                else f"{plan.duplicates} leads taken before, sent again and again"
            )
            target = {"queue.distinct": 0.5, "queue.duplicate": 0.7}.get(key)
            bench.measures.append(
                Measure(
                    name=f"ack.{key}",
                    title=f"webhook ack, {phase} leads, {MODES[mode]}",
                    unit="req/s",
                    value=samples.median(f"{key}.per_s"),
                    baseline="bare FastAPI app",
                    baseline_value=samples.median(f"bare.{phase}.per_s"),
                    better="higher",
                    conditions=f"{closed}; {what}"
                    + ("; no worker running" if mode == "queue" else ""),
                    target=Target("ratio", ">=", target) if target else None,
                    detail={
                        "p50_ms": _round(samples.median(f"{key}.p50")),
                        "p99_ms": _round(samples.median(f"{key}.p99")),
                        "baseline_p99_ms": _round(samples.median(f"bare.{phase}.p99")),
                        "answers": dict(samples.notes[key]),
                    },
                )
            )
        if mode == "queue":
            bench.measures.append(
                Measure(
                    name="ack.bare_redis",
                    title="webhook ack, bare app + one Redis round trip",
                    unit="req/s",
                    value=samples.median("bare_redis.duplicate.per_s"),
                    baseline="bare FastAPI app",
                    baseline_value=samples.median("bare.duplicate.per_s"),
                    better="higher",
                    conditions=f"{closed}; the duplicate leads; the bare app awaiting one EVALSHA "
                    "on a kept connection per request, as the claim does in queue mode: the "
                    "most a Redis-backed claim can reach here (offline/bare_app.py)",
                    detail={
                        "p99_ms": _round(samples.median("bare_redis.duplicate.p99")),
                        "answers": dict(samples.notes["bare_redis.duplicate"]),
                    },
                )
            )
        key = f"{mode}.paced"
        bench.measures.append(
            Measure(
                name=f"paced.{mode}",
                title=f"webhook ack p99 at {plan.paced_rate:g} req/s, {MODES[mode]}",
                unit="ms",
                value=samples.median(f"{key}.p99"),
                baseline="bare FastAPI app",
                baseline_value=samples.median("bare.paced.p99"),
                better="lower",
                conditions=f"open loop, new leads due at {plan.paced_rate:g}/s for "
                f"{plan.paced_s:g} s after {plan.warmup_s:g} s, latency from when each was due",
                target=Target("value", "<", 20),
                detail={
                    "p50_ms": _round(samples.median(f"{key}.p50")),
                    "answers": dict(samples.notes[key]),
                },
            )
        )


def _ack_phase(
    bench: Bench,
    send: Callable[[Load], loadgen.Result],
    port: int,
    kind: str,
    phase: str,
    leads: list[dict[str, Any]],
    tag: str,
) -> loadgen.Result:
    plan = bench.plan
    load = Load(
        port,
        leads,
        f"{tag}{phase[:3]}",
        connections=plan.connections,
        seconds=plan.ack_s,
        warmup=plan.warmup_s,
    )
    if phase == "paced":
        return send(replace(load, rate=plan.paced_rate, seconds=plan.paced_s))
    if phase == "distinct":
        return send(load)
    seeded = send(replace(load, requests=plan.duplicates, connections=4))
    if seeded.statuses.get(202, 0) != plan.duplicates:
        raise BenchError(f"{kind}: seeding {plan.duplicates} leads answered {seeded.statuses}")
    if kind == "default":  # let the server finish them before measuring
        deadline = time.monotonic() + 120
        while not _metrics_idle(port) and time.monotonic() < deadline:
            time.sleep(0.1)
    return send(replace(load, cycle=plan.duplicates))


def pipeline_sqlite(bench: Bench) -> None:
    """Default mode's pipeline on SQLite, and the disk each lead takes, every round."""
    plan, samples = bench.plan, bench.samples
    leads = sample_leads(plan.pipeline_leads, SEED + 2)
    empty = bench.scratch / "pipeline-empty"
    asyncio.run(_open_and_close({"DATA_DIR": empty}))
    empty_bytes = dir_bytes(empty)
    # Warm-up, not timed: the first leads of a process pay for lazy imports and caches.
    bench.say(f"pipeline warm-up: {plan.warmup_leads} leads, SQLite, service then null graph")
    warm = [distinct(lead, f"pw-{i}") for i, lead in enumerate(leads[: plan.warmup_leads])]
    asyncio.run(pipeline_in_process({"DATA_DIR": bench.scratch / "pipeline-warm"}, warm))
    asyncio.run(null_in_process({"DATA_DIR": bench.scratch / "null-warm"}, warm))
    for r in range(plan.rounds):
        bench.say(f"pipeline round {r + 1}/{plan.rounds}: SQLite, service then null graph")
        batch = [distinct(lead, f"p{r}-{i}") for i, lead in enumerate(leads)]
        service_dir, null_dir = bench.scratch / f"pipeline-{r}", bench.scratch / f"null-{r}"
        # Retention 0: each lead's compaction is due at once, and runs after the timing.
        values = {"DATA_DIR": service_dir, "CHECKPOINT_RETENTION_HOURS": 0}
        done = asyncio.run(pipeline_in_process(values, batch))
        samples.add("sqlite.per_s", done["per_s"])
        samples.notes["sqlite"].update(done["statuses"])
        samples.add("sqlite.null", asyncio.run(null_in_process({"DATA_DIR": null_dir}, batch)))
        samples.add("disk.whole", (dir_bytes(service_dir) - empty_bytes) / len(batch) / 1024)
        asyncio.run(compact_all(values))
        samples.add("disk", (dir_bytes(service_dir) - empty_bytes) / len(batch) / 1024)
        samples.add("disk.null", (dir_bytes(null_dir) - empty_bytes) / len(batch) / 1024)
    concurrency = settings_for({}).worker_concurrency
    bench.measures.append(
        Measure(
            name="pipeline.sqlite",
            title="pipeline, SQLite, default mode",
            unit="leads/s",
            value=samples.median("sqlite.per_s"),
            baseline=f"null {len(NULL_PIPELINE)}-node graph",
            baseline_value=samples.median("sqlite.null"),
            better="higher",
            conditions=f"{plan.pipeline_leads} leads queued at once, in process, after "
            f"{plan.warmup_leads} untimed; null graph on the same SQLite checkpointer, "
            f"durability sync, {concurrency} at a time; the heap settled after opening, as "
            "`serve` does, for both",
            target=Target("ratio", ">=", 0.75),
            detail={"leads": dict(samples.notes["sqlite"])},
        )
    )
    bench.measures.append(
        Measure(
            name="disk.per_lead",
            title="disk per lead, SQLite, compacted",
            unit="KB",
            value=samples.median("disk"),
            baseline="the same leads before compaction",
            baseline_value=samples.median("disk.whole"),
            better="lower",
            conditions=f"growth of DATA_DIR over {plan.pipeline_leads} leads (all files, "
            "services closed) once their retention (CHECKPOINT_RETENTION_HOURS, 0 here) ran "
            "out and their checkpoints were compacted",
            target=Target("value", "<=", 15),
            detail={"null_graph_kb": round(samples.median("disk.null"), 1)},
        )
    )


async def compact_all(values: dict[str, Any]) -> None:
    """Run every compaction that is due, as the sweeper would."""
    from service.wiring import open_services

    async with open_services(settings_for(values)) as services:
        while await services.fire_timers():
            pass


async def _open_and_close(values: dict[str, Any]) -> None:
    from service.wiring import open_services

    async with open_services(settings_for(values)):
        pass


def pipeline_queue(bench: Bench) -> None:
    """The pipeline on PostgreSQL with the Redis queue, 1 and 2 workers, every round."""
    plan, samples = bench.plan, bench.samples
    names = ["pipeline.postgres.1", "pipeline.postgres.2", "pipeline.postgres.scaling"]
    problem = bench.redis_problem or bench.postgres_problem
    if problem:
        bench.skip(names, problem)
        return
    import psycopg

    with psycopg.connect(bench.postgres_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{bench.schema}"')
    # Migrated once here, so that the processes below all start on a migrated schema.
    asyncio.run(_open_and_close({**bench.postgres_values(), "DATA_DIR": bench.scratch / "pg"}))
    leads = sample_leads(plan.queue_leads, SEED + 3)
    sets = {n: {**bench.queue_values(f"w{n}"), **bench.postgres_values()} for n in (1, 2)}
    crew = Crew(2)
    try:
        workers = []
        for n, values in sets.items():
            values["DATA_DIR"] = bench.scratch / f"workers-{n}"
            for i in range(n):
                log = bench.scratch / f"worker-{n}-{i}.log"
                argv = [sys.executable, str(ROOT / "cli.py"), "worker"]
                workers.append(Child("worker", argv, env_for(values), log, _says(log)))
        with started(workers):
            # Warm-up, not timed: each worker's and crew process's first leads.
            bench.say(f"pipeline warm-up: {plan.warmup_leads} leads a process, PostgreSQL")
            pg_only = {**bench.postgres_values(), "DATA_DIR": bench.scratch / "null-pg"}
            for n, values in sets.items():
                warm = [distinct(lead, f"qw{n}-{i}") for i, lead in enumerate(leads)]
                asyncio.run(_pipeline_workers(values, warm[: plan.warmup_leads * n]))
                crew.run(pg_only, [warm[i::n][: plan.warmup_leads] for i in range(n)])
            for r in range(plan.rounds):
                for n, values in sets.items():
                    bench.say(
                        f"pipeline round {r + 1}/{plan.rounds}: PostgreSQL + Redis queue, "
                        f"{n} worker{'s' if n > 1 else ''}, then null graph"
                    )
                    batch = [distinct(lead, f"q{r}w{n}-{i}") for i, lead in enumerate(leads)]
                    done = asyncio.run(_pipeline_workers(values, batch))
                    samples.add(f"postgres.{n}", done["per_s"])
                    samples.notes[f"postgres.{n}"].update(done["statuses"])
                    chunks = [batch[i::n] for i in range(n)]
                    samples.add(f"postgres.{n}.null", crew.run(pg_only, chunks))
    finally:
        crew.close()
    concurrency = settings_for({}).worker_concurrency
    for n in (1, 2):
        bench.measures.append(
            Measure(
                name=f"pipeline.postgres.{n}",
                title=f"pipeline, PostgreSQL + Redis queue, {n} worker{'s' if n > 1 else ''}",
                unit="leads/s",
                value=samples.median(f"postgres.{n}"),
                baseline=f"null graph, {n} process{'es' if n > 1 else ''}",
                baseline_value=samples.median(f"postgres.{n}.null"),
                better="higher",
                conditions=f"{plan.queue_leads} leads queued at once to `cli.py worker` "
                f"processes (each past {plan.warmup_leads} untimed), timed to an empty queue; "
                f"null graph on the same PostgreSQL "
                f"checkpointer, durability sync, {concurrency} at a time per process",
                target=Target("ratio", ">=", 0.8),
                detail={"leads": dict(samples.notes[f"postgres.{n}"])},
            )
        )
    null_scaling = samples.median("postgres.2.null") / samples.median("postgres.1.null")
    bench.measures.append(
        Measure(
            name="pipeline.postgres.scaling",
            title="pipeline, 2 workers beside 1",
            unit="leads/s",
            value=samples.median("postgres.2"),
            baseline="1 worker",
            baseline_value=samples.median("postgres.1"),
            better="higher",
            conditions=f"as above; {os.cpu_count()} cores shared by the workers, Redis, "
            f"PostgreSQL and the bench: what they allow is the null graph's 2 processes "
            f"beside 1, {null_scaling:.2f}×",
            target=Target("ratio", ">=", 1.6),
            detail={"null_graph_2_beside_1": _round(null_scaling)},
        )
    )


def _says(log: Path, text: bytes = b"worker ready") -> Callable[[], bool]:
    return lambda: log.is_file() and text in log.read_bytes()


async def _pipeline_workers(values: dict[str, Any], leads: list[dict[str, Any]]) -> dict[str, Any]:
    """Queue `leads` to the running workers of `values` and time them to an empty queue."""
    from service.queue import queue_depth
    from service.wiring import open_services

    settings = settings_for({**values, "DATA_DIR": Path(values["DATA_DIR"]) / "bench"})
    async with open_services(settings) as services:
        await services.broker.startup()
        ids = await claim(services, leads)
        started = time.perf_counter()
        for lead_id in ids:
            await services.enqueue(lead_id)
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if not await queue_depth(services.broker, settings):
                break
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        done = await statuses(services, ids)
        await services.broker.shutdown()
    return {"per_s": len(ids) / seconds, "statuses": done}


def backtest(bench: Bench) -> None:
    """`offline.backtest` against the 5-node null graph with no checkpointer, every round."""
    from offline.backtest import run as run_backtest

    plan, samples = bench.plan, bench.samples
    leads = sample_leads(plan.backtest_leads, SEED + 4)
    path = bench.scratch / "backtest-leads.jsonl"
    path.write_text("".join(json.dumps(lead) + "\n" for lead in leads), encoding="utf-8")
    null = null_graph(NULL_BACKTEST, None)
    for r in range(plan.rounds):
        bench.say(f"backtest round {r + 1}/{plan.rounds}: {len(leads)} leads, then null graph")
        home = bench.scratch / f"backtest-{r}"
        home.mkdir()
        result = run_backtest(settings_for({"DATA_DIR": home}), path)
        samples.add("backtest", result["speed"]["leads_per_s"])
        samples.notes["backtest"]["routed"] += result["totals"]["routed"]
        samples.add("backtest.null", len(leads) / asyncio.run(run_null(null, leads, 1)))
    bench.measures.append(
        Measure(
            name="backtest",
            title=f"backtest, {plan.backtest_leads:,} leads",
            unit="leads/s",
            value=samples.median("backtest"),
            baseline=f"null {len(NULL_BACKTEST)}-node graph",
            baseline_value=samples.median("backtest.null"),
            better="higher",
            conditions="capture → route one lead at a time, no checkpointer, sample accounts",
            detail={"routed": samples.notes["backtest"]["routed"] // plan.rounds},
        )
    )


def startup(bench: Bench) -> None:
    """Opening the services with growing account files, each in a fresh process."""
    from tools.aside import ASIDE_MIN_ROWS

    plan, samples = bench.plan, bench.samples
    biggest, smallest = max(plan.accounts), min(plan.accounts)
    bench.say(f"start-up: writing {', '.join(f'{n:,}' for n in plan.accounts)} accounts")
    rows = synthetic_accounts(biggest)
    probes = unmatched_names(rows)
    files = {0: write_accounts(bench.scratch / "accounts-0.csv", [])}
    for n in plan.accounts:
        files[n] = write_accounts(bench.scratch / f"accounts-{n}.csv", rows[:n])
    runs = [(n, "start") for n in files] + ([(biggest, "restart")] if plan.restart else [])
    for r in range(plan.rounds):
        for n, how in runs:
            bench.say(f"start-up round {r + 1}/{plan.rounds}: {n:,} accounts, {how}")
            values = {"ACCOUNTS_CSV": files[n], "DATA_DIR": bench.scratch / f"open-{n}-{r}"}
            with _fresh_process_pool() as pool:
                probe = pool.submit(open_probe, values, probes, plan.match_repeats).result()
            key = f"{n}.{how}"
            samples.add(f"{key}.open", probe["open_s"])
            samples.add(f"{key}.import", probe["import_s"])
            samples.add(f"{key}.rss", probe["rss_mb"])
            samples.add(f"{key}.aside_rss", probe["aside_rss_mb"])
            samples.add(f"{key}.match", probe["match_ms"])
            samples.notes["matched"].update(probe["matched"])
    fresh = "in a fresh process, a new data directory"
    for n in plan.accounts:
        size = _size(n)
        bench.measures.append(
            Measure(
                name=f"startup.{size}",
                title=f"start-up, {n:,} accounts",
                unit="s",
                value=samples.median(f"{n}.start.open"),
                baseline="no accounts",
                baseline_value=samples.median("0.start.open"),
                better="lower",
                conditions=f"open_services (accounts read, CRM seeded, index built), {fresh}"
                + (
                    f"; from {ASIDE_MIN_ROWS:,} accounts a forked child seeds the CRM and "
                    "keeps the read beside the index build (tools/aside.py)"
                    if n >= ASIDE_MIN_ROWS
                    else ""
                ),
                target=Target("value", "<", 6) if n == 100_000 else None,
                detail={"imports_s": _round(samples.median(f"{n}.start.import"))},
            )
        )
        bench.measures.append(
            Measure(
                name=f"rss.{size}",
                title=f"peak RSS, {n:,} accounts",
                unit="MB",
                value=samples.median(f"{n}.start.rss"),
                baseline="no accounts",
                baseline_value=samples.median("0.start.rss"),
                better="lower",
                conditions=f"the process's peak resident memory after opening, {fresh}"
                + (
                    "; the forked child's own peak, counting the pages it shares with the "
                    "process, is in the detail"
                    if n >= ASIDE_MIN_ROWS
                    else ""
                ),
                target=Target("value", "<", 400) if n == 100_000 else None,
                detail={"aside_child_peak_mb": _round(samples.median(f"{n}.start.aside_rss"))}
                if n >= ASIDE_MIN_ROWS
                else {},
            )
        )
    size = _size(biggest)
    if plan.restart:
        bench.measures.append(
            Measure(
                name=f"restart.{size}",
                title=f"restart, {biggest:,} accounts",
                unit="s",
                value=samples.median(f"{biggest}.restart.open"),
                baseline="first start",
                baseline_value=samples.median(f"{biggest}.start.open"),
                better="lower",
                conditions="open_services again on the data directory of the first start, "
                "accounts unchanged, in a fresh process",
                detail={"rss_mb": _round(samples.median(f"{biggest}.restart.rss"))},
            )
        )
    bench.measures.append(
        Measure(
            name=f"match.worst.{size}",
            title=f"worst single match, {biggest:,} accounts",
            unit="ms",
            value=samples.median(f"{biggest}.start.match"),
            baseline=f"same names, {smallest:,} accounts",
            baseline_value=samples.median(f"{smallest}.start.match"),
            better="lower",
            conditions=f"the slowest of {len(probes)} unmatched company names sharing common "
            f"words and spellings (median of {plan.match_repeats} calls each)",
            target=Target("value", "<", 5),
            detail={"names": probes, "matched": sorted(samples.notes["matched"])},
        )
    )


def _size(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


SECTIONS: tuple[tuple[str, Callable[[Bench], None]], ...] = (
    ("webhook ack", ack),
    ("pipeline on SQLite", pipeline_sqlite),
    ("pipeline on PostgreSQL", pipeline_queue),
    ("backtest", backtest),
    ("start-up", startup),
)
# `--only` names for the sections, in the order above.
SECTION_NAMES = ("ack", "sqlite", "postgres", "backtest", "startup")


def run(
    plan: Plan, *, redis_url: str, postgres_url: str, only: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Run every section of `plan` (or those named in `only`); the summary (conditions,
    measures, skips, failures)."""
    from service.logs import configure_logging

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="lead-router-bench-") as scratch:
        bench = Bench(plan, Path(scratch), redis_url, postgres_url)
        conditions = bench.conditions()
        try:
            for name, (title, section) in zip(SECTION_NAMES, SECTIONS, strict=True):
                if only and name not in only:
                    continue
                try:
                    section(bench)
                except (BenchError, OSError, RuntimeError, ValueError) as exc:
                    bench.failed.append({"section": title, "error": f"{type(exc).__name__}: {exc}"})
                    bench.say(f"{title} failed: {exc}")
        finally:
            bench.clean_up()
        shutil.rmtree(scratch, ignore_errors=True)
        return {
            "bench": "lead-router",
            "conditions": conditions,
            "seconds": round(time.monotonic() - bench.started, 1),
            "measures": [m.summary() for m in bench.measures],
            "skipped": bench.skipped,
            "failed": bench.failed,
        }


# Report ----------------------------------------------------------------------------------------


def _figure(value: float, unit: str) -> str:
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def report(summary: dict[str, Any], before: dict[str, Any] | None = None) -> list[str]:
    """The human-readable report, line by line (the JSON summary is printed after it)."""
    cond = summary["conditions"]
    plan = cond["plan"]
    lines = [
        f"Lead Router bench — {cond['date']}, commit {cond['commit'] or 'unknown'}, "
        f"{summary['seconds']:.0f} s",
        f"machine: {cond['cores']} cores, {cond['platform']}, Python {cond['python']}, "
        f"load average at start {', '.join(map(str, cond['load_average']))}",
        f"redis: {cond['backends']['redis']}",
        f"postgresql: {cond['backends']['postgresql']}",
        f"client: {cond['client']}",
        f"{cond['rounds']} round{'s' if cond['rounds'] > 1 else ''}, service and baseline "
        "interleaved in each; figures are medians over the rounds; ratio = service ÷ baseline",
        f"sizes: ack {plan['ack_s']:g} s at {plan['connections']} connections, paced "
        f"{plan['paced_rate']:g} req/s for {plan['paced_s']:g} s, pipeline "
        f"{plan['pipeline_leads']} leads (SQLite) and {plan['queue_leads']} (PostgreSQL), "
        f"backtest {plan['backtest_leads']:,} leads, accounts "
        + ", ".join(f"{n:,}" for n in plan["accounts"]),
        "",
    ]
    earlier = {m["name"]: m for m in (before or {}).get("measures", [])}
    head = f"{'measure':<48} {'now':>20} {'baseline':>32} {'ratio':>7}  {'target':<11}"
    if before is not None:
        head += f" {'before':>20} {'ratio':>7}"
    lines += [head, "-" * len(head)]
    for m in summary["measures"]:
        now = _figure(m["value"], m["unit"])
        if "p99_ms" in m["detail"]:
            now = f"{_figure(m['value'], m['unit'])}, p99 {m['detail']['p99_ms']:.0f} ms"
        base = f"{m['baseline']} {_figure(m['baseline_value'], m['unit'])}"
        target = ""
        if m["target"]:
            target = f"{m['target']['text']} {'✓' if m['target']['met'] else '✗'}"
        row = f"{m['title']:<48} {now:>20} {base:>32} {m['ratio']:>6.2f}×  {target:<11}"
        if before is not None:
            old = earlier.get(m["name"])
            row += (
                f" {_figure(old['value'], old['unit']):>20} {old['ratio']:>6.2f}×"
                if old
                else f" {'—':>20} {'':>7}"
            )
        lines.append(row)
    lines.append("")
    lines += [f"{m['title']}: {m['conditions']}" for m in summary["measures"]]
    for skip in summary["skipped"]:
        lines.append(f"skipped {', '.join(skip['measures'])}: {skip['reason']}")
    for failure in summary["failed"]:
        lines.append(f"FAILED {failure['section']}: {failure['error']}")
    return lines


def _now(m: dict[str, Any]) -> str:
    now = _figure(m["value"], m["unit"])
    if "p99_ms" in m.get("detail", {}):
        now += f", p99 {m['detail']['p99_ms']:.0f} ms"
    return now


def markdown(summary: dict[str, Any], before: dict[str, Any] | None = None) -> list[str]:
    """The figures as a Markdown table, with the run's commit, date and machine (the README's
    performance section); with `before`, that run's figure and ratio in a column beside."""
    cond = summary["conditions"]
    lines = [
        f"Commit `{cond['commit'] or 'unknown'}`, {cond['date'][:10]}: {cond['cores']} cores, "
        f"{cond['platform']}, Python {cond['python']}, {cond['rounds']} rounds, "
        f"{summary['seconds'] / 60:.0f} minutes.",
        "",
    ]
    earlier = {m["name"]: m for m in (before or {}).get("measures", [])}
    if before is not None:
        then = before.get("conditions", {})
        lines[0] += f" Before: commit `{then.get('commit') or 'unknown'}`, "
        lines[0] += f"{str(then.get('date') or 'date unknown')[:10]}."
        lines += [
            "| measure | now | baseline (same run) | ratio | target | before (ratio) |",
            "|---|---:|---|---:|---|---:|",
        ]
    else:
        lines += [
            "| measure | now | baseline (same run) | ratio | target |",
            "|---|---:|---|---:|---|",
        ]
    for m in summary["measures"]:
        target = ""
        if m["target"]:
            target = f"{m['target']['text']} {'met' if m['target']['met'] else '**not met**'}"
        row = (
            f"| {m['title']} | {_now(m)} | {m['baseline']}: "
            f"{_figure(m['baseline_value'], m['unit'])} | {m['ratio']:.2f}× | {target} |"
        )
        if before is not None:
            old = earlier.get(m["name"])
            row += f" {_now(old)} ({old['ratio']:.2f}×) |" if old else " — |"
        lines.append(row)
    return lines


def cli(argv: list[str], profile: Callable[[argparse.Namespace], int] | None = None) -> int:
    """`bench`: print the report, then the JSON summary on the last line; with `--profile`,
    `profile(args)` instead (`offline.bench_profile.main`)."""
    parser = argparse.ArgumentParser(
        prog="cli.py bench",
        description="Measure the service beside its baselines (a bare FastAPI app, a null "
        "graph on the same checkpointer, no accounts) in one run, interleaved round by "
        "round: webhook ack, pipeline, backtest, start-up and disk per lead. Prints each "
        "measure with its conditions and ratio; the JSON summary is the last line.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and one round: checks that it works"
    )
    parser.add_argument("--rounds", type=int, metavar="N", help="rounds (default 3; quick 1)")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", REDIS_URL),
        help=f"Redis for queue mode (default BENCH_REDIS_URL or {REDIS_URL})",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL),
        help=f"PostgreSQL for checkpoints (default BENCH_POSTGRES_URL or {POSTGRES_URL}); "
        "a schema of the run's own is created and dropped",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="where the JSON goes (docs/bench/last.json)"
    )
    parser.add_argument(
        "--compare", type=Path, metavar="FILE", help="an earlier JSON summary to print beside"
    )
    parser.add_argument(
        "--show",
        type=Path,
        metavar="FILE",
        help="print the report of a JSON summary written before, without measuring",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="the figures as a Markdown table (for the README)"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="pipeline",
        choices=("pipeline", "ack"),
        help="instead of measuring: where the time goes, by layer and library, beside the "
        "baseline's (cProfile; offline/bench_profile.py): a lead's in the SQLite pipeline "
        "(the default), or a duplicate webhook's in queue mode (needs Redis)",
    )
    parser.add_argument(
        "--profile-leads", type=int, default=200, metavar="N", help="leads --profile runs (200)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTION_NAMES,
        default=[],
        help="measure only this section (repeatable): ack, sqlite and postgres pipelines, "
        "backtest, startup (accounts)",
    )
    args = parser.parse_args(argv)
    try:
        before = _read_summary(args.compare) if args.compare else None
        shown = _read_summary(args.show) if args.show else None
    except (OSError, ValueError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if shown is not None:
        for line in markdown(shown, before) if args.markdown else report(shown, before):
            print(line)
        return 0
    if args.profile:
        if profile is None:
            print("bench: --profile is not available from here", file=sys.stderr)
            return 2
        return profile(args)
    plan = QUICK if args.quick else Plan()
    if args.rounds:
        plan = replace(plan, rounds=max(1, args.rounds))
    out = args.out or LAST_RUN
    summary = run(
        plan, redis_url=args.redis_url, postgres_url=args.postgres_url, only=tuple(args.only)
    )
    for line in markdown(summary, before) if args.markdown else report(summary, before):
        print(line)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"summary written to {out}")
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if summary["failed"] else 0


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not a JSON summary ({exc})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("measures"), list):
        raise ValueError(f"{path}: not a bench summary (no measures)")
    return summary
