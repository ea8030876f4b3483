"""`learn`: fit the learned scorer on a CSV export or on stored outcomes, install it, and score
leads with it once the services load it.

The synthetic data make conversion depend on one column, "Minutes On Site":
long visits mostly convert, short ones mostly do not.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.learned_model import LearnedModel
from offline.learn import cli
from service.settings import Settings
from service.wiring import open_services
from tests.helpers import lead_payload, make_settings, submit_and_run

SOURCES = ("Webinar", "Trade Show", "Referral", "Podcast")
HIGH = {"Minutes On Site": 1900, "Signup Channel": "Webinar"}
LOW = {"Minutes On Site": 40, "Signup Channel": "Webinar"}


def synthetic_rows(n: int, seed: int = 7) -> list[tuple[dict[str, Any], int]]:
    """`n` leads and their 0/1 outcome; the outcome depends on "Minutes On Site" (with noise)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        minutes = rng.randint(0, 2000)
        converted = int(minutes + rng.gauss(0, 700) > 1000)
        rows.append(
            ({"Minutes On Site": minutes, "Signup Channel": rng.choice(SOURCES)}, converted)
        )
    return rows


def write_csv(path: Path, n: int = 200) -> list[int]:
    """Write a CSV export of `n` synthetic leads with a "converted" column; return the labels."""
    rows = synthetic_rows(n)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, ["Signup Id", "Minutes On Site", "Signup Channel", "converted"]
        )
        writer.writeheader()
        for i, (row, label) in enumerate(rows):
            writer.writerow({"Signup Id": f"p-{i}", **row, "converted": label})
    return [label for _, label in rows]


def learn(argv: list[str], settings: Settings, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run `learn`; return its exit code, its last stdout line as JSON (if 0), and stderr."""
    code = cli(argv, settings)
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1]) if code == 0 else None
    return code, summary, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A model learned from the synthetic CSV: its current-model path and version."""
    folder = tmp_path_factory.mktemp("learned")
    write_csv(folder / "leads.csv")
    settings = make_settings(folder)
    argv = ["--csv", str(folder / "leads.csv"), "--label", "converted", "--min-rows", "20"]
    assert cli(argv, settings) == 0
    model = LearnedModel.load(settings.current_model_path)
    return settings.current_model_path, model.version


def test_learn_from_csv_installs_a_versioned_and_current_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`learn --csv` writes `<version>.json` and the current model, and ends with a summary."""
    labels = write_csv(tmp_path / "leads.csv")
    settings = make_settings(tmp_path)
    code, summary, _ = learn(
        ["--csv", str(tmp_path / "leads.csv"), "--label", "converted", "--min-rows", "20"],
        settings,
        capsys,
    )
    assert code == 0
    version = summary["version"]
    versioned = Path(summary["path"])
    assert versioned.name == f"{version}.json" and versioned.exists()
    assert summary["current"] == str(settings.current_model_path)
    assert LearnedModel.load(settings.current_model_path).version == version
    assert LearnedModel.load(versioned).version == version
    assert summary["rows"] == len(labels) and summary["positives"] == sum(labels)
    assert "Minutes On Site" in summary["features"]
    assert "converted" not in summary["features"] and "Signup Id" not in summary["features"]


async def test_services_score_with_the_learned_model(
    tmp_path: Path, trained: tuple[Path, str]
) -> None:
    """Once installed, a lead carrying the model's columns is scored by it, point by point."""
    model_path, version = trained
    async with open_services(make_settings(tmp_path, MODEL_PATH=model_path)) as services:
        state = await submit_and_run(services, lead_payload(properties=HIGH))
    score = state["score"]
    assert score["method"] == "learned" and score["model_version"] == version
    assert 0 <= score["total"] <= 100
    assert math.isclose(
        math.fsum(c["points"] for c in score["contributions"]), score["total"], abs_tol=1e-6
    )
    features = {c["feature"] for c in score["contributions"]}
    assert "Minutes On Site" in features


async def test_learned_score_is_higher_for_a_long_visit(
    tmp_path: Path, trained: tuple[Path, str]
) -> None:
    """The learned score ranks a long visit (which converts in the data) above a short one."""
    model_path, _ = trained
    async with open_services(make_settings(tmp_path, MODEL_PATH=model_path)) as services:
        high = await submit_and_run(services, lead_payload(properties=HIGH))
        low = await submit_and_run(services, lead_payload(properties=LOW))
    assert high["score"]["total"] > low["score"]["total"] + 20


async def store_outcomes(settings: Settings, outcomes: list[tuple[dict[str, Any], str]]) -> None:
    """Run one lead per entry to completion and record its outcome in the store."""
    async with open_services(settings) as services:
        for properties, outcome in outcomes:
            state = await submit_and_run(services, lead_payload(properties=properties))
            await services.store.record_outcome(
                state["lead_id"],
                {"outcome": outcome, "recorded_at": datetime.now(UTC).isoformat()},
            )


def test_learn_from_stored_outcomes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`learn` without --csv fits on the stored outcomes of completed leads, open ones left out."""
    settings = make_settings(tmp_path)
    outcomes = [(row, "won" if label else "lost") for row, label in synthetic_rows(30)]
    asyncio.run(store_outcomes(settings, [*outcomes, (HIGH, "open")]))
    code, summary, _ = learn(["--min-rows", "20"], settings, capsys)
    assert code == 0
    assert summary["source"] == "stored outcomes"
    assert summary["rows"] == 30
    assert summary["positives"] == sum(o == "won" for _, o in outcomes)
    assert 0 < summary["positives"] < 30
    assert "Minutes On Site" in summary["features"]
    assert LearnedModel.load(settings.current_model_path).version == summary["version"]


@pytest.mark.parametrize(
    ("outcomes", "positives"),
    [
        pytest.param(["won", "lost", "won", "lost", "won"], 3, id="too-few"),
        pytest.param(["won"] * 24, 24, id="one-class"),
    ],
)
def test_learn_without_enough_outcomes_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], outcomes: list[str], positives: int
) -> None:
    """Too few stored outcomes, or only one kind, exits 2 with a message and installs nothing."""
    settings = make_settings(tmp_path)
    asyncio.run(store_outcomes(settings, [(HIGH, o) for o in outcomes]))
    code, _, err = learn(["--min-rows", "20"], settings, capsys)
    assert code == 2
    assert f"{len(outcomes)} outcomes ({positives} positive)" in err
    assert "need at least 20 with both outcomes" in err
    assert not settings.current_model_path.exists()


def write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write `rows` (dicts with the same keys) as a CSV export."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def with_capture_columns(tmp_path: Path, columns: list[str]) -> Path:
    """A copy of the shipped scoring.yaml that lists `columns` as the capture columns."""
    shipped = Path(__file__).resolve().parents[2] / "infra" / "scoring.yaml"
    listed = "learning:\n  capture_columns: " + json.dumps(columns) + "\n\ngrades:"
    path = tmp_path / "scoring.yaml"
    path.write_text(shipped.read_text().replace("grades:", listed, 1))
    return path


def test_learn_reports_held_back_figures_beside_the_live_scorer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`learn` measures the new model on held-back rows beside the live scorer (the rules)."""
    write_csv(tmp_path / "leads.csv")
    settings = make_settings(tmp_path)
    code = cli(["--csv", str(tmp_path / "leads.csv"), "--label", "converted"], settings)
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and summary["installed"]
    assert summary["held_back"]["rows"] == 50
    assert "random 25%, seed 0" in summary["held_back"]["how"]
    new, rules = summary["figures"]["new"], summary["figures"]["rules"]
    assert new["roc_auc"] > rules["roc_auc"]
    assert {"roc_auc", "pr_auc", "book_precision", "book_rows"} <= set(new)
    assert "held back 50 rows" in out and "ROC-AUC" in out
    assert f"new      {summary['version']}" in out and "rules    scoring.yaml (live)" in out
    assert "INSTALLED" in out and "restart" in out


def test_learn_keeps_the_live_model_when_the_new_one_is_not_better(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model that does worse on the held-back rows is saved, not installed, unless forced."""
    write_csv(tmp_path / "good.csv")
    settings = make_settings(tmp_path)
    assert cli(["--csv", str(tmp_path / "good.csv"), "--label", "converted"], settings) == 0
    live = LearnedModel.load(settings.current_model_path).version
    capsys.readouterr()
    good = str(tmp_path / "good.csv")
    argv = ["--csv", good, "--label", "converted", "--exclude", "Minutes On Site"]

    code = cli(argv, settings)
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and not summary["installed"]
    assert f"not better than the live scorer ({live})" in out
    assert f"live     {live}" in out and "NOT INSTALLED" in out
    assert LearnedModel.load(settings.current_model_path).version == live
    assert Path(summary["path"]).exists()

    assert cli([*argv, "--force"], settings) == 0
    forced = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert forced["installed"] and forced["forced"]
    assert LearnedModel.load(settings.current_model_path).version == forced["version"]


def leaky_rows(n: int = 300) -> list[dict[str, Any]]:
    """Synthetic leads plus a "Rep Notes" column a rep fills in that gives the outcome away."""
    rng = random.Random(5)
    rows = []
    for row, label in synthetic_rows(n):
        tag = ("Closed" if label else "Not interested") if rng.random() < 0.95 else "Voicemail"
        rows.append({**row, "Rep Notes": tag, "converted": label})
    return rows


def test_learn_refuses_suspected_leakage_without_a_capture_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column that gives the outcome away is named and stops the install; --force installs."""
    write_table(tmp_path / "leads.csv", leaky_rows())
    settings = make_settings(tmp_path)
    argv = ["--csv", str(tmp_path / "leads.csv"), "--label", "converted"]

    code = cli(argv, settings)
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "possible leakage" in out and "  Rep Notes: predicts the outcome almost on its own" in out
    )
    assert "no learning.capture_columns list" in out
    assert not settings.current_model_path.exists()

    assert cli([*argv, "--force"], settings) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["installed"] and "Rep Notes" in summary["features"]


def test_learn_uses_only_the_capture_columns_when_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With `learning.capture_columns` in scoring.yaml only those columns are learned from."""
    write_table(tmp_path / "leads.csv", leaky_rows())
    scoring = with_capture_columns(tmp_path, ["Minutes On Site", "Signup Channel"])
    settings = make_settings(tmp_path, SCORING_CONFIG=scoring)

    code = cli(["--csv", str(tmp_path / "leads.csv"), "--label", "converted"], settings)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["installed"]
    assert set(summary["features"]) <= {"Minutes On Site", "Signup Channel"}
    assert summary["suspects"] == []
    model = LearnedModel.load(settings.current_model_path)
    assert "capture" in model.excluded["Rep Notes"]


def test_learn_holds_back_the_latest_rows_when_there_is_a_date_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a date column the held-back rows are the latest quarter, and the date is no input."""
    rows = [
        {"created_at": f"2026-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}", **row, "converted": y}
        for i, (row, y) in enumerate(synthetic_rows(200))
    ]
    write_table(tmp_path / "leads.csv", rows)
    settings = make_settings(tmp_path)
    cli(["--csv", str(tmp_path / "leads.csv"), "--label", "converted"], settings)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["held_back"]["how"] == "the latest 25% by created_at"
    assert "created_at" not in summary["features"]
