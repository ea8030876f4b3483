"""Open the configured similar-account memory and embedder, and share their rules.

`open_vector_memory(settings)` returns Pinecone when PINECONE_API_KEY is set (PINECONE_INDEX,
PINECONE_HOST for a local endpoint), else the local index in DATA_DIR (DESIGN §4).
`open_embedder(settings)` returns the deterministic local embedder unless EMBEDDINGS_MODEL
names an OpenAI-compatible embeddings model.

Both memory backends import the helpers below, so metadata rules, vector checks and the error
type callers catch are defined once. Metadata follows Pinecone's rules on both: values are
strings, numbers, booleans or lists of strings; None is dropped and anything else is
stringified (objects as JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tools.embedder_local import DEFAULT_DIM, LocalEmbedder
from tools.ports import Embedder, VectorMemory

if TYPE_CHECKING:
    from tools.settings import Settings

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
        values = [float(x) for x in vector]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a sequence of numbers") from exc
    if dim is not None and len(values) != dim:
        raise ValueError(f"{what} has {len(values)} dimensions, the memory holds {dim}")
    if not values or not all(math.isfinite(x) for x in values):
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


def open_embedder(settings: Settings) -> Embedder:
    """LocalEmbedder by default; OpenAIEmbedder when settings.embeddings_model is set."""
    if settings.embeddings_model:
        if settings.openai_api_key is None:
            raise ValueError(
                "EMBEDDINGS_MODEL is set: set OPENAI_API_KEY too (any value for an endpoint "
                "without auth, with OPENAI_BASE_URL pointing at it)"
            )
        api_key = settings.openai_api_key.get_secret_value()
        return OpenAIEmbedder(
            settings.embeddings_model, api_key=api_key, base_url=settings.openai_base_url
        )
    return LocalEmbedder(DEFAULT_DIM)


async def open_vector_memory(settings: Settings, dim: int | None = None) -> VectorMemory:
    """Open PineconeVectorMemory when settings.pinecone_api_key is set, else LocalVectorMemory.

    `dim` is the embedder's dimension. The local index checks it against the file; left None
    it is the local embedder's when EMBEDDINGS_MODEL is unset, else taken from the file or the
    first upsert. A Pinecone index has its own dimension, fixed when it was created.
    """
    if settings.pinecone_api_key:
        from tools.vector_pinecone import PineconeVectorMemory

        if not settings.pinecone_index and not settings.pinecone_host:
            raise ValueError("PINECONE_API_KEY is set: set PINECONE_INDEX (or PINECONE_HOST) too")
        return PineconeVectorMemory(
            api_key=settings.pinecone_api_key.get_secret_value(),
            index=settings.pinecone_index or "",
            host=settings.pinecone_host,
        )
    from tools.vector_local import LocalVectorMemory

    if dim is None and not settings.embeddings_model:
        dim = DEFAULT_DIM
    return await LocalVectorMemory(settings.data_dir / LOCAL_FILENAME, dim).open()
