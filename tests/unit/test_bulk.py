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


KEEP = """
import gc, json, sys
from domain.bulk import KEEP_BUILT_FROM, collector_paused, keep_built
count = KEEP_BUILT_FROM + int(sys.argv[1])
with collector_paused():
    rows = [{"account_id": str(n), "aliases": []} for n in range(count)]
    keep_built(len(rows))
print(json.dumps([gc.get_freeze_count(), len(gc.get_objects())]))
"""


def test_many_records_built_are_frozen_before_the_collector_resumes() -> None:
    """From KEEP_BUILT_FROM records, what was built is out of the collector's reach when it
    resumes; one record fewer leaves it all for the collections to walk."""
    (frozen, tracked), (kept_frozen, kept_tracked) = (
        json.loads(
            subprocess.run(
                [sys.executable, "-c", KEEP, str(extra)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            ).stdout
        )
        for extra in (-1, 0)
    )
    assert frozen == 0 and tracked > 40_000  # each row: a dict and a list
    assert kept_frozen > 40_000 and kept_tracked < 1_000
