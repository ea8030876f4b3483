"""`backtest`: historical leads replayed through the current config, with no side effects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from offline.backtest import cli, read_leads, run
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "infra" / "sample_leads.jsonl"
CONFIG_ARGS = [
    "--routing",
    str(ROOT / "infra" / "routing.yaml"),
    "--scoring",
    str(ROOT / "infra" / "scoring.yaml"),
    "--accounts",
    str(ROOT / "infra" / "accounts.csv"),
]
LABELLED_HEADER = (
    "email,first_name,company,title,country,message,form_id,submitted_at,expected_team"
)
LABELLED_ROWS = (
    "li.wei@harbourline-example.sg,Li,Harbourline Logistics,VP Sales,SG,"
    "We would like a demo and pricing for 40 seats,contact-sales,2026-11-18T02:00:00Z,{apac}",
    "sam.jones@gmail.com,Sam,,Student,US,,newsletter,2026-11-18T15:00:00Z,{nurture}",
    "pat.kim@corvane-example.com,Pat,Corvane,Support Engineer,US,"
    "Our login is broken and we cannot log in,contact-sales,2026-11-18T16:00:00Z,{support}",
)


def _settings(tmp_path: Path) -> Settings:
    return Settings(DATA_DIR=tmp_path / "data", REDIS_URL=None, DATABASE_URL=None)


def _labelled_csv(tmp_path: Path, **labels: str) -> Path:
    """The three labelled leads, each labelled with its true team unless overridden."""
    truth = {"apac": "apac", "nurture": "nurture", "support": "support", **labels}
    path = tmp_path / "labelled.csv"
    rows = [row.format(**truth) for row in LABELLED_ROWS]
    path.write_text("\n".join([LABELLED_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _cli_summary(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, Any]]:
    assert cli(argv) == 0
    out = capsys.readouterr().out.rstrip("\n")
    text, _, last = out.rpartition("\n")
    return text, json.loads(last)


def test_sample_replay_counts_every_line_and_writes_nothing(tmp_path: Path) -> None:
    """The samples' valid, invalid and duplicate lines add up, and DATA_DIR is never created."""
    expect = {
        n: json.loads(line)["_expect"]
        for n, line in enumerate(SAMPLES.read_text(encoding="utf-8").splitlines(), 1)
        if line.strip()
    }
    settings = _settings(tmp_path)

    result = run(settings, SAMPLES)

    valid = [n for n, e in expect.items() if e["valid"]]
    repeats = {n: e["duplicate_of_line"] for n, e in expect.items() if e["duplicate_of_line"]}
    totals = result["totals"]
    assert totals["rows"] == len(expect)
    assert totals["valid"] == len(valid)
    assert totals["routed"] == len(valid) - len(repeats)
    assert totals["failed"] == 0
    assert {r["line"] for r in result["invalid"]} == {n for n in expect if n not in valid}
    assert all(r["reason"] for r in result["invalid"])
    assert {r["line"]: r["of_line"] for r in result["duplicates"]} == repeats
    per_action = result["distribution"]["action"].values()
    assert sum(int(v["count"]) for v in per_action) == totals["routed"]
    assert not settings.data_dir.exists()


def test_cli_prints_the_report_then_the_json_summary_last(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The report comes first and the last line is the JSON summary of the replayed rows."""
    text, summary = _cli_summary(["--leads", str(SAMPLES), "--limit", "10", *CONFIG_ARGS], capsys)

    assert summary["totals"]["rows"] == 10
    assert "per action" in text and "per rep" in text and "leads/s" in text
    assert summary["speed"]["leads_per_s"] > 0


def test_right_labels_give_accuracy_one(tmp_path: Path) -> None:
    """When every expected_team is what the config routes to, team accuracy is 1.0."""
    result = run(_settings(tmp_path), _labelled_csv(tmp_path))

    assert result["accuracy"]["team"] == {"labelled": 3, "correct": 3, "accuracy": 1.0}
    assert result["mismatches"] == []


def test_wrong_label_shows_in_the_confusion_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lead labelled inside-sales but routed to nurture is counted in that table cell."""
    leads = _labelled_csv(tmp_path, nurture="inside-sales")

    text, summary = _cli_summary(["--leads", str(leads), *CONFIG_ARGS], capsys)

    assert summary["accuracy"]["team"]["correct"] == 2
    assert summary["confusion"]["team"]["inside-sales"] == {"nurture": 1}
    lines = text.splitlines()
    start = lines.index("confusion team:")
    columns = lines[start + 1].split()[3:]  # after "expected \ actual"
    row = next(line.split() for line in lines[start + 2 :] if line.split()[0] == "inside-sales")
    assert row[1 + columns.index("nurture")] == "1"


def test_same_file_twice_gives_identical_summaries(tmp_path: Path) -> None:
    """Round-robin counters start from zero each time, so a replay is reproducible."""
    settings = _settings(tmp_path)

    first = run(settings, SAMPLES)
    second = run(settings, SAMPLES)

    first.pop("speed")
    second.pop("speed")
    assert first == second
    assert first["distribution"]["method"].get("round_robin", {}).get("count", 0) > 0


def test_dotted_csv_headers_become_nested_payload_fields(tmp_path: Path) -> None:
    """`utm.source` and `properties.X` nest; unknown columns go to properties; labels leave."""
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "email,utm.source,utm.campaign,properties.team_size,consent.marketing,"
        "favourite_colour,expected_owner\n"
        "jo@acme-example.com,linkedin,q4,11-50,true,teal,ana@example.com\n",
        encoding="utf-8",
    )

    fmt, rows = read_leads(leads)

    assert fmt == "csv"
    assert rows[0].payload == {
        "email": "jo@acme-example.com",
        "utm": {"source": "linkedin", "campaign": "q4"},
        "properties": {"team_size": "11-50", "favourite_colour": "teal"},
        "consent": {"marketing": "true"},
    }
    assert rows[0].labels == {"owner": "ana@example.com"}


def test_the_catch_all_is_counted_with_the_data_each_lead_lacked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lead of unknown size and one of known size but no territory reach the catch-all;
    the summary says which data each lacked, so a team sees the gaps in its data."""
    path = tmp_path / "gaps.csv"
    path.write_text(
        "email,company,title,country,message,form_id\n"
        # an unknown company with a corporate domain: no employee count, no country
        "pat@unknown-venture-example.io,Unknown Venture,Head of Sales,,"
        "We want pricing,contact-sales\n"
        # a known account in the US with fewer than 1,000 employees: data complete
        "ava@torvika.com,Torvika Apps Inc.,COO,US,We want pricing,contact-sales\n",
        encoding="utf-8",
    )
    text, summary = _cli_summary(["--leads", str(path), *CONFIG_ARGS], capsys)
    caught = summary["catch_all"]
    assert caught["count"] == 2
    assert set(caught["why"]) == {
        "no country or region, no employee count",
        "data complete, no earlier rule fits",
    }
    assert "reached the catch-all or fallback: 2 (100.0%)" in text
