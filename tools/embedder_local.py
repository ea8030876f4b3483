"""Deterministic local embedder: signed feature hashing of words and character trigrams.

The embedded default of the `Embedder` port (DESIGN §4). Nothing is downloaded and nothing is
learned: a text is normalized (Unicode NFKD, accents stripped, lower-cased), split into word
tokens, and every word and every character trigram of a word (padded with spaces, so prefixes
and suffixes count) is hashed with BLAKE2b into one of `dim` buckets with a sign taken from
the same digest. Counts are damped (`1 + log(count)`), trigrams weigh less than whole words,
and the vector is L2-normalized, so the dot product of two vectors is their cosine.

The hash is keyed by nothing that changes between processes or Python versions (never
`hash()`), so a vector stored today matches one computed tomorrow on another machine.

What text an account is embedded from is `domain.accounts.account_text`.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter

import numpy as np

DEFAULT_DIM = 256
WORD_WEIGHT = 1.0
TRIGRAM_WEIGHT = 0.5
# An empty text still gets a non-zero vector: cosine needs a norm, and Pinecone rejects
# all-zero dense vectors.
EMPTY_TOKEN = "\x00empty"

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


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
