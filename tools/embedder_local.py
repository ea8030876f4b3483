"""Deterministic local embedder: signed feature hashing of words and character trigrams.

The embedded default of the `Embedder` port (DESIGN §4). Nothing is downloaded and nothing is
learned: a text is normalized (Unicode NFKD, accents stripped, lower-cased), split into word
tokens, and every word and every character trigram of a word (padded with spaces, so prefixes
and suffixes count) is hashed with BLAKE2b into one of `dim` buckets with a sign taken from
the same digest. Counts are damped (`1 + log(count)`), trigrams weigh less than whole words,
and the vector is L2-normalized, so the dot product of two vectors is their cosine.

The hash is keyed by nothing that changes between processes or Python versions (never
`hash()`), so a vector stored today matches one computed tomorrow on another machine.

`account_text(account)` renders an account's firmographics (name, industry, country, size
band, description) into the text to embed, so accounts sharing an industry, a country and a
size band share many features and end up close.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Any

import numpy as np

DEFAULT_DIM = 256
WORD_WEIGHT = 1.0
TRIGRAM_WEIGHT = 0.5
# An empty text still gets a non-zero vector: cosine needs a norm, and Pinecone rejects
# all-zero dense vectors.
EMPTY_TOKEN = "\x00empty"

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
# Upper bounds of the employee-count bands, the usual B2B segmentation grain.
_SIZE_BANDS: tuple[tuple[int, str], ...] = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (500, "201-500"),
    (1000, "501-1000"),
    (5000, "1001-5000"),
    (10000, "5001-10000"),
)


def normalize(text: str) -> str:
    """Lower-case `text` and strip accents (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def tokens(text: str) -> list[str]:
    """Word tokens of the normalized text; inner hyphens and apostrophes stay in the word."""
    return _WORD.findall(normalize(text))


def _features(text: str) -> Counter[str]:
    words = tokens(text)
    features: Counter[str] = Counter()
    for word in words:
        features["w:" + word] += 1
        padded = f" {word} "
        for start in range(len(padded) - 2):
            features["c:" + padded[start : start + 3]] += 1
    if not features:
        features["w:" + EMPTY_TOKEN] = 1
    return features


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    sign = 1.0 if value & 1 else -1.0
    return (value >> 1) % dim, sign


class LocalEmbedder:
    """Text to an L2-normalized `dim`-dimensional vector, the same on every machine."""

    def __init__(self, dim: int = DEFAULT_DIM) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 8:
            raise ValueError(f"dim must be an integer >= 8, got {dim!r}")
        self.dim = dim

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one unit vector per text, in order."""
        return [self._embed_one(text).tolist() for text in texts]

    def _embed_one(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float64)
        for feature, count in _features(text).items():
            index, sign = _bucket(feature, self.dim)
            weight = WORD_WEIGHT if feature.startswith("w:") else TRIGRAM_WEIGHT
            vector[index] += sign * weight * (1.0 + math.log(count))
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            # Every feature cancelled out in its bucket: fall back to the empty-text vector.
            index, sign = _bucket("w:" + EMPTY_TOKEN, self.dim)
            vector[index] = sign
            return vector
        return vector / norm


def _plain(value: Any) -> Any:
    """An enrichment field may be `{"value", "source", "confidence"}`; return its value."""
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _first(account: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = _plain(account.get(key))
        if value not in (None, "", [], {}):
            return value
    return None


def size_band(employees: Any) -> str | None:
    """The employee-count band of `employees` (a number or a numeric string), or None."""
    if isinstance(employees, bool) or employees is None:
        return None
    if isinstance(employees, str):
        digits = employees.replace(",", "").replace("_", "").strip().rstrip("+")
        if not digits.isdigit():
            return employees.strip() or None
        employees = int(digits)
    if not isinstance(employees, int | float) or not math.isfinite(employees) or employees < 1:
        return None
    for upper, band in _SIZE_BANDS:
        if employees <= upper:
            return band
    return "10001+"


@lru_cache(maxsize=512)
def country_name(value: str) -> str:
    """The common English name of a country given by name or ISO code; else `value` itself."""
    import pycountry

    try:
        country = pycountry.countries.lookup(value.strip())
    except LookupError:
        return value.strip()
    return str(getattr(country, "common_name", None) or country.name)


def account_text(account: dict[str, Any]) -> str:
    """Render an account's firmographics as the text its embedding is computed from.

    Reads `name` (or `company`), `industry`, `country`, the size band from `size_band` or
    `employees`, and `description`; a field may be a plain value or an enrichment field
    (`{"value": ..., "source": ..., "confidence": ...}`). One line per field, without labels
    (a label shared by every account would only add the same amount to every similarity);
    missing fields are left out.
    """
    parts: list[str] = []
    name = _first(account, "name", "company", "company_name")
    if name is not None:
        parts.append(str(name))
    industry = _first(account, "industry", "sector")
    if industry is not None:
        parts.append(str(industry))
    country = _first(account, "country", "country_code")
    if country is not None:
        parts.append(country_name(str(country)))
    band = _first(account, "size_band") or size_band(
        _first(account, "employees", "employee_count", "size")
    )
    if band is not None:
        parts.append(f"{band} employees")
    description = _first(account, "description", "about")
    if description is not None:
        parts.append(str(description))
    return "\n".join(parts)
