"""`python cli.py bench --quick`: every measure beside its baseline, the JSON summary last."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POSTGRES_TEST_URL, REDIS_TEST_URL

ROOT = Path(__file__).resolve().parents[2]
MEASURES = {
    "ack.default.distinct",
    "ack.default.duplicate",
    "paced.default",
    "ack.queue.distinct",
    "ack.queue.duplicate",
    "ack.bare_redis",
    "paced.queue",
    "pipeline.sqlite",
    "disk.per_lead",
    "pipeline.postgres.1",
    "pipeline.postgres.2",
    "pipeline.postgres.scaling",
    "backtest",
    "startup.1k",
    "rss.1k",
    "match.worst.1k",
}
EARLIER = {"measures": [{"name": "backtest", "value": 12.5, "unit": "leads/s", "ratio": 0.031}]}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """One quick run, compared with an earlier summary: its output and its JSON file."""
    home = tmp_path_factory.mktemp("bench")
    earlier = home / "earlier.json"
    earlier.write_text(json.dumps(EARLIER))
    out = home / "last.json"
    argv = [sys.executable, str(ROOT / "cli.py"), "bench", "--quick", "--out", str(out)]
    argv += ["--redis-url", REDIS_TEST_URL, "--postgres-url", POSTGRES_TEST_URL]
    argv += ["--compare", str(earlier)]
    done = subprocess.run(argv, cwd=home, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def test_summary_is_the_last_line_and_the_file(quick: tuple[str, dict[str, Any]]) -> None:
    """The last line printed is the JSON summary, the same as the file written."""
    stdout, written = quick
    assert json.loads(stdout.strip().splitlines()[-1]) == written


def test_every_measure_is_taken_or_skipped_with_a_reason(
    quick: tuple[str, dict[str, Any]],
) -> None:
    """Each measure is in the summary or listed as skipped, with why; nothing failed."""
    _, summary = quick
    taken = {m["name"] for m in summary["measures"]}
    skipped = {name for skip in summary["skipped"] for name in skip["measures"]}
    assert taken | skipped == MEASURES and not taken & skipped
    assert all(skip["reason"] for skip in summary["skipped"])
    assert summary["failed"] == []
    if os.environ.get("CI") == "true":  # Redis and PostgreSQL are there: nothing is skipped
        assert not skipped


def test_every_ratio_is_a_positive_number(quick: tuple[str, dict[str, Any]]) -> None:
    """Each measure has a value, a baseline and their ratio, all positive, and its conditions."""
    _, summary = quick
    for measure in summary["measures"]:
        for key in ("value", "baseline_value", "ratio"):
            number = measure[key]
            assert isinstance(number, float) and math.isfinite(number) and number > 0, measure
        assert measure["unit"] and measure["baseline"] and measure["conditions"], measure


def test_conditions_name_the_machine_backends_and_rounds(
    quick: tuple[str, dict[str, Any]],
) -> None:
    """The summary states the cores, Python, backends, client and rounds it ran with."""
    _, summary = quick
    conditions = summary["conditions"]
    assert conditions["cores"] >= 1 and conditions["rounds"] == 1
    assert conditions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(conditions["backends"]) == {"redis", "postgresql"}
    assert "loadgen" in conditions["client"]


def test_an_earlier_summary_is_printed_beside(quick: tuple[str, dict[str, Any]]) -> None:
    """With --compare, the earlier figure and ratio of a measure are printed on its row."""
    stdout, _ = quick
    row = next(line for line in stdout.splitlines() if line.startswith("backtest, "))
    assert "12.5 leads/s" in row and "0.03×" in row


def test_markdown_puts_an_earlier_summary_in_a_column(
    quick: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    """`--show FILE --compare EARLIER --markdown` reprints a run as the README's table, the
    earlier figure and ratio in a last column (a dash where the earlier run lacks the measure)."""
    _, written = quick
    shown, earlier = tmp_path / "shown.json", tmp_path / "earlier.json"
    shown.write_text(json.dumps(written))
    earlier.write_text(json.dumps(EARLIER))
    argv = [sys.executable, str(ROOT / "cli.py"), "bench", "--show", str(shown)]
    argv += ["--compare", str(earlier), "--markdown"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].endswith("| before (ratio) |")
    backtest = next(row for row in rows if row.startswith("| backtest, "))
    assert backtest.endswith("| 12.5 leads/s (0.03×) |")
    assert all(row.endswith("| — |") for row in rows[1:] if not row.startswith("| backtest, "))
    assert len(rows) == len(written["measures"]) + 1


def test_the_summary_goes_where_the_demo_does_not_wipe(tmp_path: Path) -> None:
    """`make bench` then `make demo`: the bench's summary is not in DATA_DIR, the folder the
    demo refuses to share and wipes."""
    from offline.bench import LAST_RUN
    from tests.helpers import make_settings

    assert not LAST_RUN.is_relative_to(make_settings(tmp_path).data_dir)
    assert not LAST_RUN.is_relative_to(ROOT / "data")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(LAST_RUN)], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0  # not committed by accident
