"""A process that records a number of leads into the metrics, says so, and stays alive: a
stand-in for a worker in the tests of metrics shared through PROMETHEUS_MULTIPROC_DIR.

`python tests/fakes/metrics_recorder.py N` records N completed leads (each a capture step and a
rep told), holds one lead running, prints `recorded N`, and waits to be stopped by a signal.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools import metrics


def main() -> None:
    leads = int(sys.argv[1])
    for _ in range(leads):
        metrics.NODE_DURATION.labels(node="capture").observe(0.004)
        metrics.LEADS.labels(status="completed", action="draft").inc()
        metrics.TIME_TO_NOTIFY.observe(0.2)
    metrics.LEADS_RUNNING.inc()
    print(f"recorded {leads}", flush=True)
    signal.pause()


if __name__ == "__main__":
    main()
