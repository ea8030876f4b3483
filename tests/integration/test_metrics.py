"""GET /metrics: plausible counts after a run of leads, and one view over several processes
that share PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import (
    ROOT,
    lead_payload,
    live_server,
    make_settings,
    serve_process,
    spawn,
    wait_for,
    wait_status,
)
from tools.metrics import prepare_directory

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
RECORDER = [str(ROOT / "tests" / "fakes" / "metrics_recorder.py")]


def scrape(client: httpx.Client) -> Samples:
    """Every sample of `GET /metrics`, by name and labels."""
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when the series is absent (nothing recorded yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape_drained(client: httpx.Client, **queue: str) -> Samples:
    """A scrape taken once the queue's depth is 0 (a task ends just after its lead's record)."""

    def drained() -> Samples | None:
        samples = scrape(client)
        return samples if value(samples, "lead_router_queue_depth", **queue) == 0 else None

    return dict(wait_for(drained))


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with live_server(make_settings(tmp_path)) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def test_a_run_of_leads_shows_in_requests_leads_nodes_and_time_to_notify(
    client: httpx.Client,
) -> None:
    """After a batch of leads, a duplicate and an invalid body: requests by route template and
    status, leads by action, one node observation per step run, one time to notify per rep
    told — and no lead id in any label."""
    before = scrape(client)
    payloads = [lead_payload() for _ in range(6)]
    payloads.append(lead_payload(email="seo@gmail.com", company="", message="Buy backlinks now"))
    ids = [client.post("/webhooks/lead", json=p).json()["lead_id"] for p in payloads]
    assert client.post("/webhooks/lead", json=payloads[0]).status_code == 200
    assert client.post("/webhooks/lead", json={"email": "nope"}).status_code == 422
    records = [wait_status(client, lead_id, {"completed", "failed"}) for lead_id in ids]
    assert {r["status"] for r in records} == {"completed"}

    # The in-process queue holds each task until it returns, just after the record is written.
    after = scrape_drained(client, queue="lead-router", backend="in_process")
    route = {"method": "POST", "route": "/webhooks/lead"}
    assert delta(after, before, "lead_router_http_requests_total", **route, status="202") == 7
    assert delta(after, before, "lead_router_http_requests_total", **route, status="200") == 1
    assert delta(after, before, "lead_router_http_requests_total", **route, status="422") == 1
    admin = {"method": "GET", "route": "/admin/leads/{lead_id}", "status": "200"}
    assert delta(after, before, "lead_router_http_requests_total", **admin) >= len(ids)

    actions = Counter(r["state"]["routing"]["action"] for r in records)
    assert "disqualify" in actions and sum(actions.values()) == 7
    for action, count in actions.items():
        labels = {"status": "completed", "action": action}
        assert delta(after, before, "lead_router_leads_total", **labels) == count

    steps = Counter(step["node"] for r in records for step in r["history"])
    assert steps["capture"] == 7 and steps["notify"] == 7
    for node, count in steps.items():
        name = "lead_router_node_duration_seconds"
        assert delta(after, before, f"{name}_count", node=node) == count, node
        assert delta(after, before, f"{name}_bucket", node=node, le="+Inf") == count, node
        assert delta(after, before, f"{name}_sum", node=node) > 0, node

    told = [r for r in records if "skipped" not in r["deliveries"]["rep.message"]]
    assert len(told) == 6  # the disqualified lead's rep is not told
    name = "lead_router_time_to_notify_seconds"
    assert delta(after, before, f"{name}_count") == len(told)
    assert delta(after, before, f"{name}_bucket", le="+Inf") == len(told)
    seconds = sum(r["deliveries"]["ms_to_notify"] for r in told) / 1000
    assert delta(after, before, f"{name}_sum") == pytest.approx(seconds)

    text = client.get("/metrics").text
    assert not any(lead_id in text for lead_id in ids)
    assert "northwind-freight" not in text


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`cli.py serve`, its admin API open (ADMIN_OPEN) to the test's reads."""
    return serve_process({"ADMIN_OPEN": "true", **env}, log)


def _record(leads: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process that records `leads` leads into the shared directory; wait until it has."""
    proc = spawn([str(leads)], env, log, program=RECORDER)
    wait_for(lambda: f"recorded {leads}" in log.read_text(), timeout=30)
    return proc


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)  # reaped: a zombie's pid would still look alive


@pytest.mark.slow
def test_the_api_serves_the_sum_over_processes_sharing_the_directory(tmp_path: Path) -> None:
    """Two processes record 3 and 4 leads into one PROMETHEUS_MULTIPROC_DIR: the API's scrape
    shows 7; when one is killed its counts stay and its running lead goes."""
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
    }
    first = _record(3, env, tmp_path / "first.log")
    second = _record(4, env, tmp_path / "second.log")
    api, url = _serve(env, tmp_path / "api.log")
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            samples = scrape(client)
            assert (
                value(samples, "lead_router_leads_total", status="completed", action="draft") == 7
            )
            capture = {"node": "capture"}
            assert value(samples, "lead_router_node_duration_seconds_count", **capture) == 7
            assert value(samples, "lead_router_time_to_notify_seconds_count") == 7
            assert value(samples, "lead_router_leads_running") == 2

            first.kill()
            first.wait(timeout=30)
            samples = scrape(client)
            assert (
                value(samples, "lead_router_leads_total", status="completed", action="draft") == 7
            )
            assert value(samples, "lead_router_leads_running") == 1
            requests = {"method": "GET", "route": "/metrics", "status": "200"}
            assert value(samples, "lead_router_http_requests_total", **requests) == 1
    finally:
        _stop(api, second, first)


def test_at_start_files_of_exited_processes_go_unless_others_still_record(
    tmp_path: Path,
) -> None:
    """While another process lives, an exited one keeps its counters and histograms (sums never
    drop) and loses its live gauge; once none lives, a start removes every stale file."""
    folder = tmp_path / "metrics"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    gone = _record(2, env, tmp_path / "gone.log")
    _stop(gone)
    living = _record(5, env, tmp_path / "living.log")
    try:
        assert prepare_directory(folder) == {"removed": 1, "kept": 5}
        names = {p.name for p in folder.iterdir()}
        assert f"gauge_livesum_{gone.pid}.db" not in names
        assert {f"counter_{gone.pid}.db", f"histogram_{gone.pid}.db"} <= names
        assert f"gauge_livesum_{living.pid}.db" in names
    finally:
        _stop(living)
    assert prepare_directory(folder) == {"removed": 5, "kept": 0}
    assert list(folder.iterdir()) == []


@pytest.mark.slow
@pytest.mark.redis
def test_leads_run_by_two_workers_show_in_the_api_scrape(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """The API queues leads to two worker processes over Redis: its scrape counts every lead's
    steps and time to notify, which only the workers record, once the stream is drained."""
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "QUEUE_URL": redis_url,
        "QUEUE_NAME": f"{redis_prefix}queue",
        "LOG_LEVEL": "WARNING",
        "NODE_RETRY_INITIAL_S": "0",
    }
    api, url = _serve(env, tmp_path / "api.log")
    workers = [spawn(["worker"], env, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            ids = [
                client.post("/webhooks/lead", json=lead_payload()).json()["lead_id"]
                for _ in range(10)
            ]
            for lead_id in ids:
                assert wait_status(client, lead_id, {"completed", "failed"}, 60)["status"] == (
                    "completed"
                )
            samples = scrape_drained(client, queue=env["QUEUE_NAME"], backend="redis_stream")
        completed = sum(
            v
            for (name, labels), v in samples.items()
            if name == "lead_router_leads_total" and ("status", "completed") in labels
        )
        assert completed == 10
        assert value(samples, "lead_router_time_to_notify_seconds_count") == 10
        for node in ("capture", "enrich", "classify", "score", "route", "notify"):
            assert value(samples, "lead_router_node_duration_seconds_count", node=node) == 10
        route = {"method": "POST", "route": "/webhooks/lead", "status": "202"}
        assert value(samples, "lead_router_http_requests_total", **route) == 10
    finally:
        _stop(api, *workers)
