"""Large structures built with the collector paused, and a started process's heap settled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SETTLE = """
import gc, json
import service.wiring  # what a started process holds: the graph, the services, their modules
from domain.bulk import settle_started_heap
before = len(gc.get_objects())
settle_started_heap()
print(json.dumps([before, gc.get_freeze_count(), len(gc.get_objects())]))
"""


def test_a_settled_heap_leaves_the_collector_only_what_comes_after() -> None:
    """After `settle_started_heap` the objects alive at start are frozen: a full collection
    walks none of them (run in a process of its own, since freezing is for the process)."""
    done = subprocess.run(
        [sys.executable, "-c", SETTLE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, frozen, tracked = json.loads(done.stdout.strip().splitlines()[-1])
    assert before > 50_000  # the service's modules alone
    assert frozen >= 0.9 * before
    assert tracked < 1_000
