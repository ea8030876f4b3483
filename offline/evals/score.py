"""Score evaluation on real outcomes: `python cli.py eval score [--data PATH]`.

Two data sets, both real third-party data read from the shared data directory:

- `x_education`: 9,240 inbound leads with the outcome `Converted`
  (`leads/x_education_leads.csv`). The post-contact columns named in the data README
  (`POST_CONTACT_COLUMNS` below) and the id columns (`Prospect ID`, `Lead Number`, which the
  model's identifier rule leaves out) are excluded; every other column is a lead property, as it
  would arrive in a webhook's `properties`.
- `crm`: Won/Lost opportunities (`crm/sales_pipeline.csv`) joined with the account's
  firmographics (`crm/accounts.csv`) and the product (`crm/products.csv`). The source's typos
  are mapped (`GTXPro` → `GTX Pro` so the product join holds; `technolgy`, `Philipines`
  spelled out). Sales agent, dates and deal value are left out: they are not known when a
  lead arrives.

Each set is split 70/30 (stratified, fixed seed). The learned additive model is trained on
the 70% and measured on the 30%: ROC-AUC, PR-AUC, top-decile lift, Brier score and expected
calibration error. scikit-learn's HistGradientBoostingClassifier, trained on the identical
columns and split, is the anchor. For every test row the explanation is checked: its points
must add up to 100 × the predicted probability.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from domain.learned_model import (
    LearnedModel,
    is_missing,
    parse_label,
    read_csv,
    to_number,
)
from offline.evals import add_data_argument, data_dir_or_none

SPLIT_SEED: Final = 0
TEST_SHARE: Final = 0.30
LEADS_CSV: Final = Path("leads") / "x_education_leads.csv"
CRM_FILES: Final = tuple(
    Path("crm") / name for name in ("sales_pipeline.csv", "accounts.csv", "products.csv")
)
CRM_TYPOS: Final = {"GTXPro": "GTX Pro", "technolgy": "technology", "Philipines": "Philippines"}

X_EDUCATION_LABEL: Final = "Converted"
POST_CONTACT_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "Tags",
        "Lead Quality",
        "Lead Profile",
        "Last Activity",
        "Last Notable Activity",
        "Asymmetrique Activity Index",
        "Asymmetrique Profile Index",
        "Asymmetrique Activity Score",
        "Asymmetrique Profile Score",
    }
)
"""x_education columns filled in after sales contact: using them at capture time is leakage."""


def missing_files(data_dir: Path) -> list[Path]:
    """The files this evaluation needs that are not under `data_dir`."""
    return [data_dir / p for p in (LEADS_CSV, *CRM_FILES) if not (data_dir / p).is_file()]


# Data sets --------------------------------------------------------------------------------------


def x_education(data_dir: Path) -> tuple[list[dict[str, str]], list[int]]:
    """Leads as property dicts (outcome column included) and their 0/1 outcomes."""
    rows = read_csv(data_dir / LEADS_CSV)
    return rows, [parse_label(r[X_EDUCATION_LABEL]) for r in rows]


def crm_won_lost(data_dir: Path) -> tuple[list[dict[str, str]], list[int]]:
    """Won/Lost opportunities as account firmographics + product, and 1 for Won."""

    def fix(value: str) -> str:
        return CRM_TYPOS.get(value, value)

    accounts = {r["account"]: r for r in read_csv(data_dir / "crm" / "accounts.csv")}
    products = {r["product"]: r for r in read_csv(data_dir / "crm" / "products.csv")}
    rows: list[dict[str, str]] = []
    labels: list[int] = []
    for deal in read_csv(data_dir / "crm" / "sales_pipeline.csv"):
        if deal["deal_stage"] not in {"Won", "Lost"}:
            continue
        account = accounts.get(deal["account"])
        product = products.get(fix(deal["product"]))
        if account is None or product is None:
            raise ValueError(
                f"opportunity {deal['opportunity_id']}: unknown account {deal['account']!r} "
                f"or product {deal['product']!r}"
            )
        rows.append(
            {
                "sector": fix(account["sector"]),
                "year_established": account["year_established"],
                "revenue": account["revenue"],
                "employees": account["employees"],
                "office_location": fix(account["office_location"]),
                "subsidiary_of": account["subsidiary_of"],
                "product": product["product"],
                "series": product["series"],
                "sales_price": product["sales_price"],
            }
        )
        labels.append(1 if deal["deal_stage"] == "Won" else 0)
    return rows, labels


# Metrics ----------------------------------------------------------------------------------------


def split(labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the fixed stratified 70/30 train/test split."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(
        index, test_size=TEST_SHARE, stratify=np.asarray(labels), random_state=SPLIT_SEED
    )
    return np.sort(train), np.sort(test)


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, top-decile lift, Brier score and expected calibration error.

    Tied scores are never split by row order: the lift counts a tie straddling the top 10% at
    its average outcome, and the calibration bins (deciles of the score) keep ties together.
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    k = math.ceil(0.1 * len(p))
    cutoff = np.sort(p)[::-1][k - 1]
    above, tied = p > cutoff, p == cutoff
    top_positives = y[above].sum() + (k - above.sum()) * y[tied].mean()
    edges = np.unique(np.quantile(p, np.linspace(0.1, 0.9, 9)))
    bins = np.searchsorted(edges, p, side="right")
    ece = sum(
        (bins == b).sum() * abs(float(p[bins == b].mean() - y[bins == b].mean()))
        for b in np.unique(bins)
    ) / len(p)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "top_decile_lift": float(top_positives / k / y.mean()),
        "brier": float(brier_score_loss(y, p)),
        "calibration_error": float(ece),
    }


def anchor_proba(
    model: LearnedModel,
    train: Sequence[Mapping[str, Any]],
    y_train: np.ndarray,
    test: Sequence[Mapping[str, Any]],
) -> tuple[np.ndarray, float]:
    """HistGradientBoosting on the model's own columns: test probabilities and fit seconds.

    Numeric columns are passed as numbers, the others as native categorical codes (the 250
    most frequent training values; rarer and unseen values and "not given" are missing).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    numeric = [c.kind == "numeric" for c in model.columns]
    codes: list[dict[str, int]] = []
    for col, is_numeric in zip(model.columns, numeric, strict=True):
        counts = Counter(_category(r.get(col.name)) for r in train)
        counts.pop(None, None)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:250]
        codes.append({} if is_numeric else {str(v): i for i, (v, _) in enumerate(ranked)})

    def matrix(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        out = np.full((len(rows), len(model.columns)), np.nan)
        for i, row in enumerate(rows):
            for j, col in enumerate(model.columns):
                value = row.get(col.name)
                if numeric[j]:
                    number = to_number(value)
                    out[i, j] = np.nan if number is None else number
                else:
                    out[i, j] = codes[j].get(str(_category(value)), np.nan)
        return out

    started = time.perf_counter()
    hgb = HistGradientBoostingClassifier(
        categorical_features=[not n for n in numeric], random_state=SPLIT_SEED
    )
    hgb.fit(matrix(train), y_train)
    seconds = time.perf_counter() - started
    return hgb.predict_proba(matrix(test))[:, 1], seconds


def _category(value: Any) -> str | None:
    return None if is_missing(value) else str(value).strip()


def evaluate(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[int],
    *,
    exclude: frozenset[str] = frozenset(),
    label: str | None = None,
    save_model: Path | None = None,
) -> dict[str, Any]:
    """Train on the 70% split, measure on the 30%, against the anchor on the same columns."""
    y = np.asarray(labels, dtype=float)
    train_idx, test_idx = split(labels)
    train = [rows[i] for i in train_idx]
    test = [rows[i] for i in test_idx]
    y_train, y_test = y[train_idx], y[test_idx]

    started = time.perf_counter()
    model = LearnedModel.fit(
        train, y_train.astype(int).tolist(), exclude=exclude, version=f"{name}-eval", label=label
    )
    train_seconds = time.perf_counter() - started
    p = model.predict_proba(test)
    ours = metrics(y_test, p)

    started = time.perf_counter()
    sum_error = 0.0
    for row, prob in zip(test, p, strict=True):
        _, contributions, _ = model.explain(row)
        sum_error = max(sum_error, abs(sum(c["points"] for c in contributions) - 100.0 * prob))
    us_per_explain = (time.perf_counter() - started) / len(test) * 1e6

    with tempfile.TemporaryDirectory() as tmp:
        reloaded = LearnedModel.load(model.save(Path(tmp) / "model.json"))
    reload_identical = bool(np.array_equal(reloaded.predict_proba(test), p))
    if save_model is not None:
        model.save(save_model)

    anchor_p, anchor_seconds = anchor_proba(model, train, y_train, test)
    anchor = metrics(y_test, anchor_p)
    return {
        "rows": len(rows),
        "train_rows": len(train),
        "test_rows": len(test),
        "positive_rate": float(y.mean()),
        "model": ours,
        "anchor": anchor,
        "auc_ratio": ours["roc_auc"] / anchor["roc_auc"],
        "max_contribution_sum_error": sum_error,
        "reload_identical": reload_identical,
        "train_seconds": train_seconds,
        "anchor_train_seconds": anchor_seconds,
        "us_per_explain": us_per_explain,
        "C": model.training["C"],
        "calibration_slope": model.training["calibration"]["slope"],
        "cv_roc_auc": model.training.get("cv_roc_auc"),
        "features": model.features,
        "excluded": model.excluded,
    }


def run(data_dir: Path, *, save_model: Path | None = None) -> dict[str, Any]:
    """Evaluate on x_education (and save that model when asked) and on crm Won/Lost."""
    absent = missing_files(data_dir)
    if absent:
        raise FileNotFoundError(f"evaluation data missing: {', '.join(map(str, absent))}")
    rows, labels = x_education(data_dir)
    leads = evaluate(
        "x_education",
        rows,
        labels,
        exclude=POST_CONTACT_COLUMNS,
        label=X_EDUCATION_LABEL,
        save_model=save_model,
    )
    rows, labels = crm_won_lost(data_dir)
    return {
        "split": {"test_share": TEST_SHARE, "stratified": True, "seed": SPLIT_SEED},
        "x_education": leads,
        "crm": evaluate("crm", rows, labels),
    }


# Report -----------------------------------------------------------------------------------------


def _line(label: str, m: Mapping[str, float]) -> str:
    return (
        f"  {label:<22}{m['roc_auc']:>8.4f}{m['pr_auc']:>8.4f}{m['top_decile_lift']:>10.2f}"
        f"{m['brier']:>8.4f}{m['calibration_error']:>8.4f}"
    )


def report(result: Mapping[str, Any]) -> list[str]:
    """Readable lines for each data set."""
    titles = {
        "x_education": "x_education leads, outcome Converted",
        "crm": "crm opportunities, Won vs Lost (account firmographics + product)",
    }
    lines: list[str] = []
    for key, title in titles.items():
        r = result[key]
        reasons = Counter(_reason_group(why) for why in r["excluded"].values())
        lines += [
            f"{title}: {r['rows']:,} rows, train {r['train_rows']:,} / test {r['test_rows']:,} "
            f"(stratified 70/30, seed {SPLIT_SEED}), positive rate {r['positive_rate']:.1%}",
            f"  features used: {len(r['features'])}; excluded: "
            + (", ".join(f"{group} {n}" for group, n in sorted(reasons.items())) or "none"),
            f"  {'':<22}{'ROC-AUC':>8}{'PR-AUC':>8}{'lift@10%':>10}{'Brier':>8}{'ECE':>8}",
            _line("learned (additive)", r["model"]),
            _line("anchor (HistGB)", r["anchor"]),
            f"  ROC-AUC ratio learned/anchor: {r['auc_ratio']:.3f}",
            f"  explanations: max |sum of points - total| = {r['max_contribution_sum_error']:.1e} "
            f"over {r['test_rows']:,} test rows; reload gives identical scores: "
            f"{'yes' if r['reload_identical'] else 'NO'}",
            f"  training {r['train_seconds']:.2f} s (anchor {r['anchor_train_seconds']:.2f} s, "
            f"L2 C={r['C']:g}, calibration slope {r['calibration_slope']:.3f}); "
            f"{r['us_per_explain']:.0f} µs per explained score",
        ]
        if r["calibration_slope"] == 0.0:
            lines.append(
                f"  no signal: out-of-fold ROC-AUC on the training split was "
                f"{r['cv_roc_auc']:.3f}, so the learned model scores every row at the base rate"
            )
        lines.append("")
    return lines


def _reason_group(reason: str) -> str:
    for group in ("label", "caller", "identifier", "constant", "missing"):
        if group in reason:
            return {"caller": "post-contact/caller"}.get(group, group)
    return "other"


def cli(argv: list[str]) -> int:
    """`eval score`: print a table per data set, then the JSON summary on the last line."""
    parser = argparse.ArgumentParser(
        prog="cli.py eval score",
        description="ROC-AUC, PR-AUC, top-decile lift and Brier of the learned scorer on real "
        "outcomes, against a HistGradientBoosting anchor on the same columns and split.",
    )
    add_data_argument(parser)
    parser.add_argument(
        "--save-model",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the model trained on the x_education 70%% split to PATH (JSON)",
    )
    args = parser.parse_args(argv)
    data_dir = data_dir_or_none("eval score", args.data, (LEADS_CSV, *CRM_FILES))
    if data_dir is None:
        return 2
    result = run(data_dir, save_model=args.save_model)
    for line in report(result):
        print(line)
    print(json.dumps(result, ensure_ascii=False))
    return 0
