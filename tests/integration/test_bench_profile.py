"""`cli.py bench --profile`: a lead's time in the SQLite pipeline by where it is spent, the
service's beside the null graph's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from offline.bench_profile import ROOT, where
from tests.conftest import REDIS_TEST_URL

pytestmark = pytest.mark.slow


def test_each_function_lands_in_its_row() -> None:
    assert where(str(ROOT / "tools" / "store_sqlite.py"), "claim") == "ours: tools/"
    assert where(str(ROOT / "graph" / "nodes" / "notify.py"), "notify") == "ours: graph/"
    assert where("/x/site-packages/langgraph/pregel/_loop.py", "tick") == "LangGraph"
    assert where("/x/site-packages/uvicorn/server.py", "serve") == "uvicorn and h11"
    assert where("/x/site-packages/certifi/core.py", "where") == "certifi"
    assert where("/usr/lib/python3.11/asyncio/base_events.py", "_run_once") == "event loop"
    statement = "<method 'execute' of 'sqlite3.Connection' objects>"
    assert where("~", statement).startswith("SQLite statements")
    assert where("~", "<built-in method zlib.compress>") == "compression (zlib)"
    assert where("~", "<method 'poll' of 'select.epoll' objects>").startswith("waiting")
    assert where("~", "<built-in method builtins.isinstance>") == "built-in functions and methods"


def test_the_profile_prints_the_service_beside_the_null_graph(tmp_path: Path) -> None:
    argv = [sys.executable, str(ROOT / "cli.py"), "bench", "--profile", "--profile-leads", "12"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    *table, last = done.stdout.strip().splitlines()
    summary = json.loads(last)
    assert summary["leads"] == 12 and summary["statuses"] == {"completed": 12}
    rows = {row["where"]: row for row in summary["rows"]}
    # The nodes and the runner are the service's alone; LangGraph runs in both.
    assert rows["ours: graph/"]["service_ms"] > 0 and "ours: service/" in rows
    assert rows["ours: service/"]["null_ms"] == 0
    assert rows["LangGraph"]["service_ms"] > 0 and rows["LangGraph"]["null_ms"] > 0
    assert summary["service_ms"] > summary["null_ms"] > 0
    assert any(line.startswith("ours: graph/") for line in table)


@pytest.mark.redis
def test_the_ack_profile_prints_the_service_beside_the_bare_app(tmp_path: Path) -> None:
    """Both servers write their profile on the signals (`serve --profile`, the bare app's
    BARE_PROFILE), and the service's own layers show where only it spends time."""
    argv = [sys.executable, str(ROOT / "cli.py"), "bench", "--profile", "ack"]
    argv += ["--redis-url", REDIS_TEST_URL]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["requests"]["service"] > 50 and summary["requests"]["baseline"] > 50
    rows = {row["where"]: row for row in summary["rows"]}
    assert rows["ours: api/"]["service_us"] > 0 and rows["ours: api/"]["baseline_us"] == 0
    assert rows["redis-py"]["service_us"] > 0 and rows["redis-py"]["baseline_us"] > 0
