"""Leakage checks and the held-back split that `learn` measures a new model on."""

from __future__ import annotations

import random
from typing import Any

from domain.leakage import leakage_suspects
from offline.learn import held_back


def leaky_table(n: int = 1200, seed: int = 3) -> tuple[list[dict[str, Any]], list[int]]:
    """Leads with honest capture columns and three columns written after sales contact."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    labels: list[int] = []
    for _ in range(n):
        minutes = rng.randint(0, 2000)
        converted = int(minutes + rng.gauss(0, 900) > 1000)
        agrees = rng.random() < 0.95
        tag = ("Closed won" if converted else "Not interested") if agrees else "Voicemail"
        filled = rng.random() < (0.7 if converted else 0.25)
        rows.append(
            {
                "Minutes On Site": minutes,
                "Signup Channel": rng.choice(["Webinar", "Referral", "Direct"]),
                "Rep Notes": tag,
                "Rep Assessment": rng.choice(["High", "Low", "Unsure"]) if filled else "",
                "Last Touch": rng.choice(["Newsletter Read", "Call Booked", "Pricing Viewed"]),
            }
        )
        labels.append(converted)
    return rows, labels


def test_leakage_suspects_name_the_after_contact_columns() -> None:
    """A near-perfect column, one filled mostly for one outcome and a 'Last …' column are named."""
    rows, labels = leaky_table()
    suspects = leakage_suspects(rows, labels, list(rows[0]))
    assert [s.column for s in suspects] == ["Rep Notes", "Rep Assessment", "Last Touch"]
    why = {s.column: s.why for s in suspects}
    assert "on its own" in why["Rep Notes"]
    assert "filled in for" in why["Rep Assessment"]
    assert "latest" in why["Last Touch"]


def test_capture_columns_are_not_suspects() -> None:
    """Columns a lead has at capture time, with ordinary signal, raise no warning."""
    rows, labels = leaky_table()
    assert leakage_suspects(rows, labels, ["Minutes On Site", "Signup Channel"]) == []


def test_held_back_rows_are_the_latest_when_there_are_dates() -> None:
    """With a date per row the held-back share is the most recent rows."""
    labels = [i % 2 for i in range(40)]
    times = [f"2026-01-{1 + (i * 7) % 28:02d}T00:00:00" for i in range(40)]
    train, test, how = held_back(labels, times, share=0.25, seed=0)
    assert len(test) == 10 and len(train) == 30
    assert min(times[i] for i in test) >= max(times[i] for i in train)
    assert "latest" in how


def test_held_back_rows_without_dates_are_a_seeded_stratified_sample() -> None:
    """Without dates the split is random but repeatable, and keeps both outcomes."""
    labels = [int(i % 3 == 0) for i in range(90)]
    first = held_back(labels, None, share=0.25, seed=0)
    assert first == held_back(labels, None, share=0.25, seed=0)
    train, test, how = first
    assert sorted(train + test) == list(range(90))
    assert 0 < sum(labels[i] for i in test) < len(test)
    assert "random" in how and "seed 0" in how
