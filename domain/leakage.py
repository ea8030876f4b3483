"""Columns that look like leakage: filled in after sales contact or after the outcome.

A model that learns from them scores well on past leads and badly on new ones, which do not
have them yet. Three signs, each a heuristic that names the column and says why:

- the column alone ranks the outcomes almost perfectly (out-of-fold ROC-AUC of its per-value
  conversion rate above `alone_auc`);
- it is filled in far more often for one outcome than for the other (a field someone fills in
  once a lead is worked);
- its name says it holds a latest state or a verdict ("Last Touch", "Status", "Lead Score"),
  which an export takes when the file is written, after the outcome.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from domain.learned_model import is_missing, to_number

ALONE_AUC = 0.85
FILL_RATIO = 1.8
MIN_PER_OUTCOME = 10
AFTER_THE_FACT = re.compile(
    r"\b(last|latest|status|stage|outcome|disposition|closed|won|lost|score|rating|grade)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Suspect:
    """A column that may not be known when a lead arrives, and why it looks that way."""

    column: str
    why: str


def leakage_suspects(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[int],
    columns: Sequence[str],
    *,
    alone_auc: float = ALONE_AUC,
    fill_ratio: float = FILL_RATIO,
    seed: int = 0,
) -> list[Suspect]:
    """The columns of `columns` that look filled in after contact, in the order given."""
    y = np.asarray(labels, dtype=int)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    enough = min(positives, negatives) >= MIN_PER_OUTCOME
    suspects: list[Suspect] = []
    for column in columns:
        values = [row.get(column) for row in rows]
        why = _name_sign(column)
        if why is None and enough:
            why = _fill_sign(values, y, fill_ratio) or _alone_sign(values, y, alone_auc, seed)
        if why is not None:
            suspects.append(Suspect(column, why))
    return suspects


def _name_sign(column: str) -> str | None:
    word = AFTER_THE_FACT.search(column)
    if word is None:
        return None
    return (
        f"its name ('{word.group(0)}') suggests a latest state or a verdict, as it stood when "
        "the file was exported, after the outcome"
    )


def _fill_sign(values: list[Any], y: np.ndarray, ratio: float) -> str | None:
    filled = np.array([not is_missing(v) for v in values])
    if filled.all():
        return None
    share_pos, share_neg = float(filled[y == 1].mean()), float(filled[y == 0].mean())
    high, low = max(share_pos, share_neg), min(share_pos, share_neg)
    if high < 0.05 or high < ratio * low:
        return None
    return (
        f"filled in for {share_pos:.0%} of converted rows but {share_neg:.0%} of the others, "
        "like a field someone fills in once a lead is worked"
    )


def _alone_sign(values: list[Any], y: np.ndarray, threshold: float, seed: int) -> str | None:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    keys = _keys(values)
    encoded = np.zeros(len(y))
    prior = float(y.mean())
    for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(keys, y):
        seen: Counter[str] = Counter(keys[i] for i in train)
        won: Counter[str] = Counter(keys[i] for i in train if y[i])
        for i in test:
            encoded[i] = (won[keys[i]] + 10 * prior) / (seen[keys[i]] + 10)
    auc = float(roc_auc_score(y, encoded))
    if auc < threshold:
        return None
    return f"predicts the outcome almost on its own (ROC-AUC {auc:.2f} from this column alone)"


def _keys(values: list[Any]) -> list[str]:
    """One key per value: its decile for a numeric column, else the value; blank is a key."""
    numbers = [to_number(v) for v in values]
    present = [x for x in numbers if x is not None]
    if present and len(present) >= 0.98 * sum(not is_missing(v) for v in values):
        edges = np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9)))
        return [
            "(blank)" if x is None else f"bin {int(np.searchsorted(edges, x, side='right'))}"
            for x in numbers
        ]
    return ["(blank)" if is_missing(v) else " ".join(str(v).split()).casefold() for v in values]
