"""`python cli.py model …` as a subprocess: list, show, activate, roll back, shadow, promote.

Two models are learned from the synthetic CSV of `test_learn`; the tests move the live and the
shadow model between them and check what the scorer would load and what each command printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from domain.learned_model import LearnedModel
from service.wiring import open_services
from tests.helpers import ENV_SETTINGS, ROOT, lead_payload, make_settings, submit_and_run
from tests.integration.test_learn import HIGH, write_csv


def run_cli(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run `python cli.py <args>` with DATA_DIR (and `env`) set; return status, stdout, stderr."""
    base = {k: v for k, v in os.environ.items() if k not in ENV_SETTINGS}
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=data_dir.parent,  # not the checkout, whose .env is the developer's
        env={**base, **(env or {}), "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout, done.stderr


def last_json(out: str) -> Any:
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def learned_twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A data dir where two models were learned in turn (the second is live)."""
    folder = tmp_path_factory.mktemp("learned")
    data = folder / "data"
    write_csv(folder / "leads.csv")
    versions = []
    for _ in range(2):
        code, out, err = run_cli(
            "learn", "--csv", str(folder / "leads.csv"), "--label", "converted", "--force",
            data_dir=data,
        )  # fmt: skip
        assert code == 0, err
        versions.append(last_json(out)["version"])
    first, second = versions
    assert first != second
    return data, first, second


@pytest.fixture
def two_models(learned_twice: tuple[Path, str, str], tmp_path: Path) -> tuple[Path, str, str]:
    """A fresh copy of that data dir for one test."""
    data, first, second = learned_twice
    shutil.copytree(data, tmp_path / "data")
    return tmp_path / "data", first, second


def live_version(data: Path) -> str | None:
    current = data / "models" / "current.json"
    return LearnedModel.load(current).version if current.exists() else None


def test_list_and_show_name_every_version_and_the_live_one(
    two_models: tuple[Path, str, str],
) -> None:
    """`model list` shows both versions and marks the live one; `show` gives one's figures."""
    data, first, second = two_models
    code, out, _ = run_cli("model", "list", data_dir=data)
    assert code == 0
    assert last_json(out) == {"live": second, "shadow": None, "versions": [first, second]}
    assert any(
        line.strip().startswith(second) and line.endswith("live") for line in out.splitlines()
    )
    code, out, _ = run_cli("model", "show", first, data_dir=data)
    assert code == 0 and "held back 50 rows" in out and "ROC-AUC" in out
    assert last_json(out)["held_back"]["figures"]["roc_auc"] > 0.5


def test_activate_and_rollback_switch_the_live_model_atomically(
    two_models: tuple[Path, str, str],
) -> None:
    """Activate and rollback replace current.json whole, say what changed, and walk back."""
    data, first, second = two_models
    code, out, _ = run_cli("model", "activate", first, data_dir=data)
    assert code == 0 and f"live model: {second} → {first}" in out and "restart" in out
    assert live_version(data) == first

    steps = [(first, second), (second, first), (first, "rules")]
    for before, after in steps:
        code, out, _ = run_cli("model", "rollback", data_dir=data)
        assert code == 0 and f"live model: {before} → {after}" in out
        assert live_version(data) == (None if after == "rules" else after)
    code, _, err = run_cli("model", "rollback", data_dir=data)
    assert code == 2 and "nothing to roll back to" in err
    leftovers = [p.name for p in (data / "models").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_activate_an_unknown_version_changes_nothing(two_models: tuple[Path, str, str]) -> None:
    """An unknown version is one line on stderr and exit 2; the live model stays."""
    data, _, second = two_models
    code, _, err = run_cli("model", "activate", "learned-nope", data_dir=data)
    assert code == 2 and "no model 'learned-nope'" in err and "Traceback" not in err
    assert live_version(data) == second


async def test_shadow_scores_beside_the_live_model_then_promote(
    two_models: tuple[Path, str, str], tmp_path: Path
) -> None:
    """A shadow model's score is in the decision record; promote makes it live."""
    data, first, second = two_models
    code, out, _ = run_cli("model", "shadow", first, data_dir=data)
    assert code == 0 and f"shadow model: none → {first}" in out

    async with open_services(make_settings(tmp_path, DATA_DIR=data)) as services:
        state = await submit_and_run(services, lead_payload(properties=HIGH))
    score = state["score"]
    assert score["model_version"] == second
    assert score["shadow"]["model"] == first
    assert 0 <= score["shadow"]["total"] <= 100 and score["shadow"]["grade"] in "ABCD"

    code, out, _ = run_cli("model", "promote", data_dir=data)
    assert code == 0 and f"live model: {second} → {first}" in out
    assert live_version(data) == first and not (data / "models" / "shadow.json").exists()
