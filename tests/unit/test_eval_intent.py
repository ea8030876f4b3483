"""The labelled intent set is well formed, and `eval intent` measures the rules on it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli import main
from domain.records import Intent, Lead
from offline.evals.intent import DATASET, INTENTS, LANGUAGES, SPLITS, Example, load, measure


def test_dataset_is_large_enough_and_ids_are_unique() -> None:
    """At least 200 labelled messages, each with its own id."""
    examples = load()
    assert len(examples) >= 200
    assert len({e.id for e in examples}) == len(examples)


def test_split_is_fixed_in_the_file() -> None:
    """Every line names its split; the evaluation never draws one."""
    lines = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines()]
    assert all(row["split"] in SPLITS for row in lines)


def test_every_intent_and_language_is_in_both_splits_about_evenly() -> None:
    """Each intent × language cell is split between dev and test, differing by one at most."""
    cells = Counter((e.intent, e.lang, e.split) for e in load())
    for intent in INTENTS:
        for lang in LANGUAGES:
            dev, test = cells[(intent, lang, "dev")], cells[(intent, lang, "test")]
            assert dev >= 1 and test >= 1, (intent, lang)
            assert abs(dev - test) <= 1, (intent, lang, dev, test)


def test_load_rejects_an_unknown_label(tmp_path: Path) -> None:
    """A row with an intent outside the seven is named with its line number."""
    path = tmp_path / "bad.jsonl"
    row = {"id": "x", "split": "dev", "lang": "en", "intent": "sales", "message": "hi"}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: unknown intent 'sales'"):
        load(path)


def test_measure_counts_precision_recall_and_confusion() -> None:
    """A classifier that always says demo is right on demo rows only, and the figures say so."""
    rows = [
        Example("a", "dev", "en", "demo", "a demo please"),
        Example("b", "dev", "de", "pricing", "was kostet das"),
    ]

    def always_demo(lead: Lead, raw: dict[str, Any]) -> tuple[Intent, list[str]]:
        return "demo", ["always demo"]

    figures = measure(rows, always_demo)
    assert figures["accuracy"] == 0.5
    assert figures["per_intent"]["demo"] == {"precision": 0.5, "recall": 1.0, "support": 1}
    assert figures["per_intent"]["pricing"]["recall"] == 0.0
    assert figures["confusion"]["pricing"]["demo"] == 1
    assert figures["per_language"]["de"] == {"accuracy": 0.0, "n": 1}
    assert [m["id"] for m in figures["misclassified"]] == ["b"]


def test_eval_intent_prints_a_json_summary_last(capsys: pytest.CaptureFixture[str]) -> None:
    """`cli.py eval intent` reports the rules on dev and test, with no model configured.

    The accuracy floor is a regression guard set well below the measured figures, which the
    README reports; it is not the target.
    """
    assert main(["eval", "intent", "--show", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("rules on test: accuracy") for line in out)
    summary = json.loads(out[-1])
    assert set(summary) == {"dataset", "model_name", "rules", "model"}
    assert summary["model"] is None and summary["model_name"] is None
    for split in SPLITS:
        figures = summary["rules"][split]
        assert set(figures) == {
            "n",
            "accuracy",
            "per_intent",
            "per_language",
            "confusion",
            "misclassified",
        }
        assert set(figures["per_intent"]) == set(INTENTS)
        assert set(figures["per_language"]) == set(LANGUAGES)
        assert figures["accuracy"] >= 0.7
