"""The service's Prometheus metrics, defined once, and their exposition (`prometheus-client`).

Every layer that records imports the metrics from here: the HTTP middleware (through
`service.metrics`), the runner, the graph's node timing and the adapters' retries and model
calls. Labels are bounded: route templates, node names, backend names, statuses and actions —
never a lead id, an email or a raw path.

With `PROMETHEUS_MULTIPROC_DIR` in the environment before this module is first imported,
prometheus-client keeps each process's values in files in that directory (its multiprocess
mode), and `exposition` merges every process's files: the API serves the sum over itself and
the workers that share the directory. `prepare_directory` makes the directory sane at start.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# No `_created` series: multiprocess mode has none, so both modes expose the same series.
disable_created_metrics()  # type: ignore[no-untyped-call]
# prometheus-client writes a metric's file as soon as the metric is defined, below.
if os.environ.get(MULTIPROC_ENV):
    Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)

# Node steps take milliseconds on embedded backends and seconds when a SaaS API is slow.
NODE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Webhook to rep message: under a second without a model, minutes only when something is wrong.
NOTIFY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
MODEL_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)

HTTP_REQUESTS = Counter(
    "lead_router_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "lead_router_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)
LEADS = Counter(
    "lead_router_leads",
    "Lead runs that ended, by status (completed, failed) and routed action.",
    ["status", "action"],
)
LEAD_FAILURES = Counter(
    "lead_router_lead_failures",
    "Lead runs that failed after the node's retries, by the node that failed.",
    ["node"],
)
LEADS_RUNNING = Gauge(
    "lead_router_leads_running",
    "Leads this process (or, merged, every live process) is running now.",
    multiprocess_mode="livesum",
)
NODE_DURATION = Histogram(
    "lead_router_node_duration_seconds",
    "Time a graph node took to finish, by node.",
    ["node"],
    buckets=NODE_BUCKETS,
)
NODE_ERRORS = Counter(
    "lead_router_node_errors",
    "Node attempts that raised: retried while the node's attempts last, then the lead fails.",
    ["node"],
)
TIME_TO_NOTIFY = Histogram(
    "lead_router_time_to_notify_seconds",
    "From the lead's arrival at the webhook to its rep (or queue) being told.",
    buckets=NOTIFY_BUCKETS,
)
BACKEND_RETRIES = Counter(
    "lead_router_backend_retries",
    "Calls to a backend retried after a transient failure (429, 5xx, timeout), by backend.",
    ["backend"],
)
BACKEND_FAILURES = Counter(
    "lead_router_backend_failures",
    "Calls to a backend given up after their retries, by backend.",
    ["backend"],
)
MODEL_CALLS = Counter(
    "lead_router_model_calls",
    "Language model calls, by model, task (classify, draft_reply, …) and outcome.",
    ["model", "task", "outcome"],
)
MODEL_TOKENS = Counter(
    "lead_router_model_tokens",
    "Tokens the language model reported, by model, task and kind (prompt, completion).",
    ["model", "task", "kind"],
)
MODEL_DURATION = Histogram(
    "lead_router_model_call_duration_seconds",
    "Time a language model call took with its retries, by model and task.",
    ["model", "task"],
    buckets=MODEL_BUCKETS,
)


def backend_retried(backend: str) -> None:
    """Count one retry of a call to `backend`."""
    BACKEND_RETRIES.labels(backend=backend).inc()


def backend_failed(backend: str) -> None:
    """Count one call to `backend` given up after its retries."""
    BACKEND_FAILURES.labels(backend=backend).inc()


def multiprocess_dir() -> Path | None:
    """The multiprocess directory prometheus-client writes to, or None in single-process mode."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


class _Gauges:
    """A collector answering gauge families measured at scrape time (e.g. the queue's depth)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def exposition(measured: Iterable[Metric] = ()) -> bytes:
    """The text exposition of every recorded metric plus the `measured` gauge families."""
    folder = multiprocess_dir()
    if folder is not None:  # a process killed without its shutdown leaves its live gauges
        owners = _files_by_pid(folder)
        _forget_live_gauges(folder, (pid for pid in owners if not _alive(pid)))
    # In multiprocess mode the merged files hold this process's values too: not REGISTRY.
    recorded: Collector = (
        MultiProcessCollector(None, path=str(folder))  # type: ignore[no-untyped-call]
        if folder
        else REGISTRY
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorded)
    registry.register(_Gauges(measured))
    return generate_latest(registry)


def gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    """An empty gauge family to fill at scrape time (`family.add_metric(values, value)`)."""
    return GaugeMetricFamily(name, documentation, labels=labels)


_FILE = re.compile(r"^(?P<kind>[a-z]+(?:_[a-z]+)?)_(?P<pid>\d+)\.db$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _files_by_pid(folder: Path) -> dict[int, list[Path]]:
    owners: dict[int, list[Path]] = {}
    for path in folder.glob("*.db"):
        match = _FILE.match(path.name)
        if match:
            owners.setdefault(int(match["pid"]), []).append(path)
    return owners


def _forget_live_gauges(folder: Path, pids: Iterable[int]) -> None:
    for pid in pids:
        mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]


def prepare_directory(folder: Path) -> dict[str, int]:
    """Make the multiprocess directory sane before this process records into it.

    Creates it when missing. When no other live process has files there, the files left by
    exited processes are removed: a fresh start, with counters from zero as after a single
    process's restart. Otherwise the counters and histograms of exited processes are kept, so
    the merged sums never go down while the others run, and only their live gauges
    (`leads_running`) are removed. Returns the number of files `removed` and `kept`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    owners = _files_by_pid(folder)
    dead = {pid for pid in owners if not _alive(pid)}
    others_alive = any(pid != os.getpid() for pid in owners.keys() - dead)
    if others_alive:
        _forget_live_gauges(folder, dead)
    else:
        for pid in dead:
            for path in owners[pid]:
                path.unlink(missing_ok=True)
    kept = sum(1 for files in owners.values() for path in files if path.exists())
    return {"removed": sum(len(files) for files in owners.values()) - kept, "kept": kept}


def process_exited() -> None:
    """Remove this process's live gauges from the multiprocess directory (at shutdown)."""
    folder = multiprocess_dir()
    if folder is not None and folder.is_dir():
        mark_process_dead(os.getpid(), str(folder))  # type: ignore[no-untyped-call]
