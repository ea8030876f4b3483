"""`learn`: fit the learned scorer on a CSV export or on stored outcomes, install it, and score
leads with it once the services load it.

The synthetic data make conversion depend on one column, "Total Time" (minutes on the site):
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

SOURCES = ("Google", "Direct Traffic", "Referral", "Organic Search")
HIGH = {"Total Time": 1900, "Lead Source": "Google"}
LOW = {"Total Time": 40, "Lead Source": "Google"}


def synthetic_rows(n: int, seed: int = 7) -> list[tuple[dict[str, Any], int]]:
    """`n` leads and their 0/1 outcome; the outcome depends on "Total Time" (with noise)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        minutes = rng.randint(0, 2000)
        converted = int(minutes + rng.gauss(0, 250) > 1000)
        rows.append(({"Total Time": minutes, "Lead Source": rng.choice(SOURCES)}, converted))
    return rows


def write_csv(path: Path, n: int = 200) -> list[int]:
    """Write a CSV export of `n` synthetic leads with a "converted" column; return the labels."""
    rows = synthetic_rows(n)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["Prospect ID", "Total Time", "Lead Source", "converted"])
        writer.writeheader()
        for i, (row, label) in enumerate(rows):
            writer.writerow({"Prospect ID": f"p-{i}", **row, "converted": label})
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
    assert "Total Time" in summary["features"]
    assert "converted" not in summary["features"] and "Prospect ID" not in summary["features"]


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
    assert "Total Time" in features


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
    assert "Total Time" in summary["features"]
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
