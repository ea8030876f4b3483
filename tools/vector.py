"""The similar-account memory's shared rules, and the OpenAI-compatible embedder.

Which memory and embedder a process uses is chosen in `service.backends`. Both memory
backends import the helpers below, so metadata rules, vector checks and the error type callers
catch are defined once. Metadata follows Pinecone's rules on both: values are strings,
numbers, booleans or lists of strings; None is dropped and anything else is stringified
(objects as JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

LOCAL_FILENAME = "vectors.sqlite3"


class VectorMemoryError(RuntimeError):
    """A vector memory operation failed; `__cause__` holds the backend's own error."""


def _stringify(value: Any) -> str:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return str(value)


def sanitize_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Return metadata every backend accepts: str, finite number, bool, or list of str.

    None values (and None items of lists) are dropped, non-finite floats and other values are
    stringified (dicts and nested lists as JSON), keys become strings.
    """
    clean: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if value is None:
            continue
        if isinstance(value, bool | str):
            clean[str(key)] = value
        elif isinstance(value, int | float):
            clean[str(key)] = value if math.isfinite(value) else str(value)
        elif isinstance(value, list | tuple | set | frozenset):
            items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
            clean[str(key)] = [
                item if isinstance(item, str) else _stringify(item)
                for item in items
                if item is not None
            ]
        else:
            clean[str(key)] = _stringify(value)
    return clean


def check_vector(vector: Sequence[float], dim: int | None, what: str = "vector") -> list[float]:
    """Return `vector` as a list of floats; raise ValueError unless finite and `dim` long."""
    try:
        values = list(map(float, vector))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a sequence of numbers") from exc
    if dim is not None and len(values) != dim:
        raise ValueError(f"{what} has {len(values)} dimensions, the memory holds {dim}")
    if not values or not all(map(math.isfinite, values)):
        raise ValueError(f"{what} must be non-empty and finite")
    return values


def check_top_k(top_k: int) -> None:
    """Raise ValueError unless top_k is a positive integer."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")


class OpenAIEmbedder:
    """The `Embedder` port over `langchain_openai.OpenAIEmbeddings` (any compatible endpoint).

    Texts are sent as they are: client-side token counting is off, because it needs tiktoken's
    encoding files, which would be downloaded at run time (account texts are short anyway).
    """

    def __init__(self, model: str, *, api_key: str, base_url: str | None) -> None:
        from langchain_openai import OpenAIEmbeddings
        from pydantic import SecretStr

        self.model = model
        self.dim: int | None = None
        self._client = OpenAIEmbeddings(
            model=model,
            api_key=SecretStr(api_key),
            base_url=base_url,
            check_embedding_ctx_length=False,
        )

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one vector per text, in order (blocking: one HTTP call per batch)."""
        if not texts:
            return []
        vectors = [list(map(float, v)) for v in self._client.embed_documents(list(texts))]
        if vectors:
            self.dim = len(vectors[0])
        return vectors
