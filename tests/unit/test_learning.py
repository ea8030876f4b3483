"""The learned additive scorer on synthetic leads: fit, explain, persist, determinism."""

from __future__ import annotations

import functools
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.learned_model import LearnedModel, parse_label

SOURCES = {"Webinar": 0.8, "Referral": 1.5, "Ads": -0.5, "Direct": 0.0, "Select": 0.0}
COLUMNS = ["Signup Id", "visits", "minutes", "source", "country", "newsletter", "note"]


def synthetic(n: int, seed: int) -> tuple[list[dict[str, Any]], list[int]]:
    """Leads whose conversion depends on minutes, source and newsletter; country is noise."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    labels: list[int] = []
    for i in range(n):
        minutes = rng.choice([None, 0, rng.expovariate(1 / 300)])
        source = rng.choice(list(SOURCES))
        newsletter = rng.choice(["Yes", "No", "No", ""])
        logit = -1.0 + SOURCES[source] + (newsletter == "Yes") * 0.7
        logit += 1.5 * math.log1p(minutes or 0) / math.log1p(1000) - (minutes is None) * 0.5
        rows.append(
            {
                "Signup Id": f"p-{seed}-{i:05d}",
                "visits": rng.choice(["0", "1", "2", "3", "5", "8", "13", None]),
                "minutes": minutes,
                "source": source,
                "country": rng.choice(["India", "india ", "United States", None, "Select"]),
                "newsletter": newsletter,
                "note": f"free text {rng.random()}",
            }
        )
        labels.append(int(rng.random() < 1 / (1 + math.exp(-logit))))
    return rows, labels


@functools.cache
def model() -> LearnedModel:
    rows, labels = synthetic(800, seed=1)
    return LearnedModel.fit(rows, labels, version="test-1", trained_at="2026-01-01T00:00:00+00:00")


def points_sum(contributions: list[dict[str, Any]]) -> float:
    return math.fsum(c["points"] for c in contributions)


def test_saved_model_loads_with_identical_predictions(tmp_path: Path) -> None:
    """A model saved to JSON and loaded back scores every row exactly as before."""
    rows, _ = synthetic(300, seed=2)
    loaded = LearnedModel.load(model().save(tmp_path / "model.json"))
    assert np.array_equal(loaded.predict_proba(rows), model().predict_proba(rows))
    assert [loaded.explain(r) for r in rows[:20]] == [model().explain(r) for r in rows[:20]]
    assert loaded.version == "test-1"


def test_contributions_sum_to_the_total() -> None:
    """Base plus per-column points add up to 100 × the predicted probability for every row."""
    rows, _ = synthetic(500, seed=3)
    for row, p in zip(rows, model().predict_proba(rows), strict=True):
        probability, contributions, base = model().explain(row)
        assert probability == p
        assert contributions[0]["feature"] == "base" and contributions[0]["points"] == base
        assert abs(points_sum(contributions) - 100 * probability) < 1e-9


def test_unseen_categories_and_missing_values_are_scored() -> None:
    """New levels, unset fields, "Select", NaN, unreadable numbers and extra keys do not raise."""
    odd = [
        {},
        {"source": "Podcast", "country": "Atlantis", "newsletter": "maybe"},
        {"minutes": float("nan"), "visits": "lots", "source": None, "newsletter": True},
        {"minutes": "Select", "source": "select", "country": "", "unknown column": [1, 2]},
        {"minutes": 1e308, "visits": -5, "source": 3.5, "newsletter": 0},
    ]
    for row in odd:
        probability, contributions, _ = model().explain(row)
        assert 0.0 < probability < 1.0
        assert abs(points_sum(contributions) - 100 * probability) < 1e-9


def test_signal_columns_drive_the_score() -> None:
    """On fresh leads the model ranks converters first and credits the right columns."""
    from sklearn.metrics import roc_auc_score

    rows, labels = synthetic(2000, seed=4)
    assert roc_auc_score(labels, model().predict_proba(rows)) > 0.7
    _, contributions, _ = model().explain({"source": "Referral", "minutes": 900})
    by_feature = {c["feature"]: c["points"] for c in contributions}
    assert by_feature["source"] > 0 and by_feature["minutes"] > 0
    _, contributions, _ = model().explain({"source": "Ads", "minutes": 0})
    assert {c["feature"]: c["points"] for c in contributions}["source"] < 0


def test_identifiers_label_and_excluded_columns_are_not_features() -> None:
    """Id columns, free text, the label and caller-excluded columns never become inputs."""
    rows, labels = synthetic(400, seed=5)
    for row, y in zip(rows, labels, strict=True):
        row["converted"] = y
    fitted = LearnedModel.fit(rows, labels, exclude={"country"}, version="x", label="converted")
    assert set(fitted.features) == {"visits", "minutes", "source", "newsletter"}
    assert {"Signup Id", "note", "converted", "country"} <= set(fitted.excluded)


def test_same_data_gives_the_same_model_file(tmp_path: Path) -> None:
    """Two fits on the same data write byte-identical files (given the same `trained_at`)."""
    rows, labels = synthetic(600, seed=6)
    when = "2026-02-03T04:05:06+00:00"
    a = LearnedModel.fit(rows, labels, version="v", trained_at=when).save(tmp_path / "a.json")
    b = LearnedModel.fit(rows, labels, version="v", trained_at=when).save(tmp_path / "b.json")
    assert a.read_bytes() == b.read_bytes()


def test_load_rejects_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    """Loading another JSON document fails with a message naming the problem."""
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a learned lead-router model"):
        LearnedModel.load(path)


def test_fit_needs_both_outcomes() -> None:
    """Training on one outcome only is refused with a clear error."""
    rows, _ = synthetic(50, seed=7)
    with pytest.raises(ValueError, match="both outcomes"):
        LearnedModel.fit(rows, [1] * len(rows), version="v")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1), (0, 0), ("Won", 1), ("Lost", 0), ("yes", 1), (False, 0), (1.0, 1)],
)
def test_parse_label_reads_common_outcomes(value: Any, expected: int) -> None:
    """Outcome columns in CRM exports are read as 0/1."""
    assert parse_label(value) == expected


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["Select", "Webinar", "Referral", "Yes", "No", "nan", " 12 ", "1e999"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(), scalars))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*COLUMNS, "other"]) | st.text(max_size=8), values))
def test_explain_is_total_for_arbitrary_properties(row: dict[str, Any]) -> None:
    """For any mix of property types explain returns a 0–100 total its points add up to."""
    probability, contributions, _ = model().explain(row)
    total = 100 * probability
    assert 0.0 <= total <= 100.0
    assert abs(points_sum(contributions) - total) < 1e-9
    assert all(isinstance(c["reason"], str) and math.isfinite(c["points"]) for c in contributions)


def test_reasons_read_as_a_person_would_say_them() -> None:
    """Reasons name the column and its value; a blank field is not a reason of its own."""
    row = {"source": "Referral", "minutes": 900, "country": None, "newsletter": "Select"}
    probability, contributions, base = model().explain(row)
    reasons = [c["reason"] for c in contributions]
    assert not [r for r in reasons if "not given" in r or "log-odds" in r]
    by_feature = {c["feature"]: c["reason"] for c in contributions}
    assert by_feature["source"] == "source: Referral"
    assert by_feature["minutes"].startswith("minutes: 900 ")
    assert not {"country", "newsletter", "visits"} & set(by_feature)
    assert contributions[0]["feature"] == "base" and contributions[0]["points"] == base
    assert abs(points_sum(contributions) - 100 * probability) < 1e-9
