"""Learned lead scoring: an additive logistic model over arbitrary lead properties.

The model is glass-box by construction. Every column of the training table becomes one
per-column shape: numeric columns get quantile bins, a missing indicator and a clipped linear
term on a signed log scale; categorical columns get their frequent levels plus "other" and
"missing". An L2-regularized logistic regression (C chosen by stratified cross-validation)
fits all shapes at once, and a Platt step fitted on out-of-fold logits is folded into the
weights, so the calibrated log-odds stay a plain sum of per-column effects.

`explain` turns that sum into points on the 0–100 scale: a "base" contribution (the score of a
typical training lead, the lead's blank fields folded in) plus one contribution per filled
column, each read as a person would say it ("Signup Channel: Webinar"). Each column's log-odds
effect is multiplied by the same per-lead factor, (total − base) / (log-odds − base log-odds),
so the points keep the sign and order of the log-odds effects and add up to the total.

Models are saved as versioned JSON (no pickle); the same data and config give the same file
byte for byte apart from `trained_at`.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

FORMAT = "lead-router.learned-model"
FORMAT_VERSION = 1

_ID_NAME = re.compile(r"^(id|uuid|.*[\s_-]id|.*[\s_-]number|.*[\s_-]uuid)$", re.IGNORECASE)
MISSING_STRINGS = frozenset({"", "select", "nan", "null", "n/a"})
"""Values meaning "not given"; "Select" is a form's untouched drop-down."""
_TRUE = frozenset({"yes", "true", "y"})
_FALSE = frozenset({"no", "false", "n"})

Kind = Literal["numeric", "categorical", "boolean"]


@dataclass(frozen=True)
class FitConfig:
    """Knobs of `LearnedModel.fit`; stored in the model file."""

    n_bins: int = 16
    min_level_count: int = 10
    max_levels: int = 40
    c_grid: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0)
    cv_folds: int = 5
    seed: int = 0
    identifier_ratio: float = 0.9


def is_identifier(name: str) -> bool:
    """True for a column named as an identifier ("id", "Signup Id", "account_number", "uuid")."""
    return _ID_NAME.match(name) is not None


def is_missing(value: Any) -> bool:
    """True for None, NaN and the strings that mean "not given" (including "Select")."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip().casefold() in MISSING_STRINGS
    return False


def to_number(value: Any) -> float | None:
    """A finite float from a number or numeric string; None when missing or unreadable."""
    if is_missing(value) or isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _level_key(value: Any) -> str:
    """Canonical level: case and spacing folded, numbers spelled one way ("1.0" is "1")."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    number = to_number(value)
    if number is not None:
        return str(int(number)) if number.is_integer() else repr(number)
    return " ".join(str(value).split()).casefold()


def _bool_key(key: str) -> str:
    if key in _TRUE:
        return "yes"
    if key in _FALSE:
        return "no"
    return key


def _signed_log(x: float) -> float:
    return math.copysign(math.log1p(abs(x)), x)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass
class Column:
    """One input column: how to read it and the log-odds effect of each of its values."""

    name: str
    kind: Kind
    missing: float = 0.0
    center: float = 0.0
    # numeric
    edges: list[float] = field(default_factory=list)
    bins: list[float] = field(default_factory=list)
    linear: float = 0.0
    mean: float = 0.0
    std: float = 1.0
    lo: float = 0.0
    hi: float = 0.0
    # categorical / boolean
    levels: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    other: float = 0.0
    _position: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def width(self) -> int:
        """Number of design-matrix columns this input column occupies."""
        if self.kind == "numeric":
            return 1 + len(self.edges) + 1 + 1
        return 2 + len(self.levels)

    def encode(self, value: Any) -> list[tuple[int, float]]:
        """Non-zero design-matrix entries for `value`, as (offset in this block, value)."""
        if self.kind == "numeric":
            x = to_number(value)
            if x is None:
                return [(0, 1.0)]
            z = self._z(x)
            return [(1 + bisect.bisect_right(self.edges, x), 1.0), (self.width() - 1, z)]
        key = self._key(value)
        if key is None:
            return [(0, 1.0)]
        if key not in self.levels:
            return [(1, 1.0)]
        if len(self._position) != len(self.levels):
            self._position = {k: i for i, k in enumerate(self.levels)}
        return [(2 + self._position[key], 1.0)]

    def set_weights(self, w: Sequence[float]) -> None:
        """Take this column's slice of fitted weights."""
        self.missing = float(w[0])
        if self.kind == "numeric":
            self.bins = [float(v) for v in w[1 : 1 + len(self.edges) + 1]]
            self.linear = float(w[-1])
        else:
            self.other = float(w[1])
            self.levels = {k: float(v) for k, v in zip(self.levels, w[2:], strict=True)}

    def _key(self, value: Any) -> str | None:
        if is_missing(value):
            return None
        key = _level_key(value)
        return _bool_key(key) if self.kind == "boolean" else key

    def _z(self, x: float) -> float:
        t = min(self.hi, max(self.lo, _signed_log(x)))
        return (t - self.mean) / self.std

    def effect(self, value: Any) -> float:
        """Log-odds effect of `value` before centering."""
        if self.kind == "numeric":
            x = to_number(value)
            if x is None:
                return self.missing
            return self.bins[bisect.bisect_right(self.edges, x)] + self.linear * self._z(x)
        key = self._key(value)
        if key is None:
            return self.missing
        return self.levels.get(key, self.other)

    def describe(self, value: Any) -> str:
        """This lead's value in this column as a person would say it ("Signup Channel: Webinar")."""
        if self.kind == "numeric":
            x = to_number(value)
            if x is None:
                return f"{self.name}: blank"
            i = bisect.bisect_right(self.edges, x)
            low = f"{self.edges[i - 1]:,g}" if i > 0 else ""
            high = f"{self.edges[i]:,g}" if i < len(self.edges) else ""
            band = f"{low} or more" if not high else f"under {high}" if not low else f"{low}–{high}"
            return f"{self.name}: {x:,g} ({band})"
        key = self._key(value)
        if key is None:
            return f"{self.name}: blank"
        if key in self.levels:
            return f"{self.name}: {self.labels.get(key, key)}"
        return f"{self.name}: {str(value)[:60]} (a rare or new value)"

    def is_blank(self, value: Any) -> bool:
        """True when the lead left this column empty (or unreadable as this column's kind)."""
        if self.kind == "numeric":
            return to_number(value) is None
        return self._key(value) is None


def _infer(name: str, values: list[Any], cfg: FitConfig) -> tuple[Column | None, str]:
    present = [v for v in values if not is_missing(v)]
    if not present:
        return None, "always missing in the training data"
    numbers = [to_number(v) for v in present]
    parsed = [x for x in numbers if x is not None]
    distinct_numbers = set(parsed)
    if len(parsed) >= 0.98 * len(present) and len(distinct_numbers) >= 3:
        t = np.array([_signed_log(x) for x in parsed])
        qs = np.quantile(np.array(parsed), np.linspace(0, 1, cfg.n_bins + 1)[1:-1], method="lower")
        smallest = min(parsed)
        edges = sorted({float(q) for q in qs if float(q) > smallest})
        std = float(t.std())
        return (
            Column(
                name=name,
                kind="numeric",
                edges=edges,
                mean=float(t.mean()),
                std=std if std > 0 else 1.0,
                lo=float(t.min()),
                hi=float(t.max()),
            ),
            "",
        )
    keys = [_level_key(v) for v in present]
    kind: Kind = "boolean" if set(keys) <= _TRUE | _FALSE else "categorical"
    if kind == "boolean":
        keys = [_bool_key(k) for k in keys]
    counts = Counter(keys)
    if len(counts) == 1 and len(present) == len(values):
        return None, "constant in the training data"
    if len(present) >= 50 and len(counts) >= cfg.identifier_ratio * len(present):
        return None, "identifier-like: nearly every row has its own value"
    spelled: dict[str, Counter[str]] = {}
    for v, k in zip(present, keys, strict=True):
        spelled.setdefault(k, Counter())[str(v).strip()] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [k for k, n in ranked[: cfg.max_levels] if n >= cfg.min_level_count]
    labels = {k: sorted(spelled[k].items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for k in kept}
    if kind == "boolean":
        labels = {k: k.capitalize() for k in kept}
    return Column(name=name, kind=kind, levels=dict.fromkeys(kept, 0.0), labels=labels), ""


def _design(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> Any:
    """Sparse design matrix (CSR) of `rows`, one block of columns per input column."""
    from scipy import sparse

    starts = np.cumsum([0, *(c.width() for c in columns)]).tolist()
    data: list[float] = []
    indices: list[int] = []
    indptr = [0]
    for row in rows:
        for start, col in zip(starts, columns, strict=False):
            for offset, value in col.encode(row.get(col.name)):
                indices.append(start + offset)
                data.append(value)
        indptr.append(len(data))
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), starts[-1]))


def _logistic(c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="newton-cholesky", max_iter=200, random_state=seed)


def _log_loss(y: np.ndarray, z: np.ndarray) -> float:
    # Mean negative log-likelihood from logits, stable for large |z|.
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


class LearnedModel:
    """A fitted additive scorer: probability, per-column explanation, JSON persistence."""

    def __init__(
        self,
        *,
        columns: list[Column],
        intercept: float,
        version: str,
        trained_at: str,
        excluded: dict[str, str],
        training: dict[str, Any],
        config: FitConfig,
        label: str | None = None,
    ) -> None:
        self.columns = columns
        self.intercept = intercept
        self.version = version
        self.trained_at = trained_at
        self.excluded = excluded
        self.training = training
        self.config = config
        self.label = label
        self.base_logit = intercept + math.fsum(c.center for c in columns)

    @property
    def features(self) -> list[str]:
        """Names of the input columns the model reads."""
        return [c.name for c in self.columns]

    @classmethod
    def fit(
        cls,
        rows: Sequence[Mapping[str, Any]],
        labels: Sequence[int],
        *,
        exclude: Iterable[str] = (),
        version: str,
        label: str | None = None,
        config: FitConfig | None = None,
        trained_at: str | None = None,
    ) -> LearnedModel:
        """Fit on `rows` (dicts of any columns) and 0/1 `labels`; `exclude` names leaky columns."""
        cfg = config or FitConfig()
        y = np.asarray([int(v) for v in labels], dtype=float)
        if len(rows) != len(y):
            raise ValueError(f"{len(rows)} rows but {len(y)} labels")
        if not set(np.unique(y)) <= {0.0, 1.0}:
            raise ValueError("labels must be 0 or 1")
        positives = int(y.sum())
        if positives == 0 or positives == len(y):
            raise ValueError("training needs both outcomes (some 1 and some 0 labels)")

        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        excluded: dict[str, str] = {}
        skip = set(exclude)
        columns: list[Column] = []
        for name in names:
            if name == label:
                excluded[name] = "the outcome label"
            elif name in skip:
                excluded[name] = "excluded by the caller (known after contact or not wanted)"
            elif is_identifier(name):
                excluded[name] = "identifier column"
            else:
                column, why = _infer(name, [r.get(name) for r in rows], cfg)
                if column is None:
                    excluded[name] = why
                else:
                    columns.append(column)

        x = _design(columns, rows)
        c, cv_loss, oof = cls._choose_c(x, y, cfg)
        slope, shift = 1.0, 0.0
        if oof is not None:
            platt = _logistic(1e6, cfg.seed).fit(oof[:, None], y)
            slope, shift = float(platt.coef_[0, 0]), float(platt.intercept_[0])
            if slope <= 0.0:
                # Out-of-fold scores do not rank outcomes: fall back to the base rate.
                slope, shift = 0.0, math.log(positives / (len(y) - positives))
        if x.shape[1]:
            model = _logistic(c, cfg.seed).fit(x, y)
            weights = model.coef_[0] * slope
            intercept = float(model.intercept_[0]) * slope + shift
        else:
            weights = np.zeros(0)
            intercept = math.log(positives / (len(y) - positives))
        start = 0
        for col in columns:
            col.set_weights(weights[start : start + col.width()].tolist())
            start += col.width()
        for col in columns:
            col.center = math.fsum(col.effect(r.get(col.name)) for r in rows) / len(rows)

        training: dict[str, Any] = {
            "rows": len(rows),
            "positives": positives,
            "C": c,
            "cv_folds": cfg.cv_folds if oof is not None else 0,
            "cv_log_loss": cv_loss,
            "calibration": {
                "method": "Platt scaling on out-of-fold logits, folded into the weights",
                "slope": slope,
                "intercept": shift,
            },
        }
        if oof is not None:
            from sklearn.metrics import roc_auc_score

            training["cv_roc_auc"] = float(roc_auc_score(y, oof))
        return cls(
            columns=columns,
            intercept=intercept,
            version=version,
            trained_at=trained_at or datetime.now(UTC).isoformat(timespec="seconds"),
            excluded=excluded,
            training=training,
            config=cfg,
            label=label,
        )

    @staticmethod
    def _choose_c(
        x: Any, y: np.ndarray, cfg: FitConfig
    ) -> tuple[float, float | None, np.ndarray | None]:
        """Pick C by out-of-fold log-loss; return it, the loss and its out-of-fold logits."""
        from sklearn.model_selection import StratifiedKFold

        folds = min(cfg.cv_folds, int(y.sum()), int(len(y) - y.sum()))
        default = cfg.c_grid[len(cfg.c_grid) // 2]
        if folds < 2 or not x.shape[1]:
            return default, None, None
        split = list(StratifiedKFold(folds, shuffle=True, random_state=cfg.seed).split(x, y))
        best: tuple[float, float, np.ndarray] | None = None
        for c in cfg.c_grid:
            oof = np.zeros(len(y))
            for train, test in split:
                oof[test] = (
                    _logistic(c, cfg.seed).fit(x[train], y[train]).decision_function(x[test])
                )
            loss = _log_loss(y, oof)
            if best is None or loss < best[1]:
                best = (c, loss, oof)
        assert best is not None
        return best

    def logit(self, row: Mapping[str, Any]) -> float:
        """Calibrated log-odds of conversion for one row."""
        return self.base_logit + math.fsum(
            c.effect(row.get(c.name)) - c.center for c in self.columns
        )

    def predict_proba(self, rows: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Probability of the positive outcome for each row."""
        return np.array([_sigmoid(self.logit(r)) for r in rows], dtype=float)

    def explain(self, row: Mapping[str, Any]) -> tuple[float, list[dict[str, Any]], float]:
        """Return (probability, contributions, base): points per column that sum to 100 × p.

        The first contribution is `base`, the score of a typical training lead with this lead's
        blank fields; the others are each filled column's log-odds effect scaled by one common
        per-lead factor. A blank field is not a reason of its own; columns with no effect are
        left out.
        """
        effects = [(c, c.effect(row.get(c.name)) - c.center) for c in self.columns]
        eta = self.base_logit + math.fsum(e for _, e in effects)
        p = _sigmoid(eta)
        delta = eta - self.base_logit
        if abs(delta) > 1e-6:
            scale = (100.0 * p - 100.0 * _sigmoid(self.base_logit)) / delta
        else:
            mid = _sigmoid(self.base_logit + delta / 2)
            scale = 100.0 * mid * (1.0 - mid)
        blank = [(col, effect) for col, effect in effects if col.is_blank(row.get(col.name))]
        base = 100.0 * _sigmoid(self.base_logit) + math.fsum(e for _, e in blank) * scale
        given = "" if not blank else f", with the same {len(blank)} fields left blank"
        contributions: list[dict[str, Any]] = [
            {
                "feature": "base",
                "points": base,
                "reason": f"typical lead in the training data{given} ({base:.1f} of 100)",
            }
        ]
        parts: list[dict[str, Any]] = [
            {
                "feature": col.name,
                "points": effect * scale,
                "reason": col.describe(row.get(col.name)),
            }
            for col, effect in effects
            if effect != 0.0 and not col.is_blank(row.get(col.name))
        ]
        parts.sort(key=lambda d: (-abs(d["points"]), d["feature"]))
        return p, contributions + parts, base

    # persistence

    def to_dict(self) -> dict[str, Any]:
        """The JSON document `save` writes."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "trained_at": self.trained_at,
            "kind": "additive logistic regression (per-column shapes, Platt-calibrated)",
            "label": self.label,
            "intercept": self.intercept,
            "base_logit": self.base_logit,
            "features": [_column_dict(c) for c in self.columns],
            "excluded": self.excluded,
            "training": self.training,
            "config": asdict(self.config),
        }

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON; the same data and config give the same bytes."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        target.write_text(text + "\n", encoding="utf-8")
        return target

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> LearnedModel:
        """Rebuild a model from `to_dict` output."""
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a learned lead-router model (format {doc.get('format')!r})")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"model file format_version {doc.get('format_version')!r} is not supported "
                f"(expected {FORMAT_VERSION}); retrain with `python cli.py learn`"
            )
        config = dict(doc["config"])
        config["c_grid"] = tuple(config["c_grid"])
        model = cls(
            columns=[Column(**c) for c in doc["features"]],
            intercept=float(doc["intercept"]),
            version=str(doc["version"]),
            trained_at=str(doc["trained_at"]),
            excluded=dict(doc["excluded"]),
            training=dict(doc["training"]),
            config=FitConfig(**config),
            label=doc.get("label"),
        )
        model.base_logit = float(doc["base_logit"])
        return model

    @classmethod
    def load(cls, path: str | Path) -> LearnedModel:
        """Read a model file written by `save`."""
        source = Path(path)
        try:
            doc = json.loads(source.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: not valid JSON ({exc})") from exc
        try:
            return cls.from_dict(doc)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{source}: malformed model file ({exc!r})") from exc


def _column_dict(col: Column) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": col.name, "kind": col.kind, "missing": col.missing}
    doc["center"] = col.center
    if col.kind == "numeric":
        doc |= {"edges": col.edges, "bins": col.bins, "linear": col.linear}
        doc |= {"mean": col.mean, "std": col.std, "lo": col.lo, "hi": col.hi}
    else:
        doc |= {"levels": col.levels, "labels": col.labels, "other": col.other}
    return doc


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV export as dicts of strings (header row required)."""
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def parse_label(value: Any) -> int:
    """Read an outcome as 0/1: 1/0, yes/no, true/false, won/lost, converted/not converted."""
    key = _level_key(value) if not is_missing(value) else ""
    if key in {"1", "yes", "true", "won", "closed won", "converted"}:
        return 1
    if key in {"0", "no", "false", "lost", "closed lost", "not converted"}:
        return 0
    raise ValueError(f"cannot read {value!r} as an outcome (expected e.g. 1/0, Won/Lost)")
