"""The demo command: posts sample leads to a live service and reports every one."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "infra" / "sample_leads.jsonl"


def test_demo_reports_accepted_duplicate_and_rejected_leads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the first 40 samples the demo exits 0 and accounts for every posted line."""
    lines = SAMPLES.read_text().splitlines()[:40]
    leads = tmp_path / "leads.jsonl"
    leads.write_text("\n".join(lines) + "\n")
    code = main(["demo", "--leads", str(leads), "--data-dir", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = next(line for line in out.splitlines() if line.startswith("posted "))
    accepted = int(summary.split(": ")[1].split(" accepted")[0])
    duplicates = int(summary.split("accepted (202), ")[1].split(" ")[0])
    rejected = int(summary.split("absorbed (200), ")[1].split(" ")[0])
    assert accepted + duplicates + rejected == 40
    assert duplicates >= 1 and rejected >= 1
    assert f"leads: {accepted} — completed {accepted}" in out
    assert "webhook → notify: p50" in out
