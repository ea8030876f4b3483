"""The checkpoint serializer: LangGraph's own (msgpack), zlib-compressed above a size.

A lead's state is mostly repeated keys and text, so a checkpoint of about 9 KB compresses to
about 3 KB. A compressed value is stored under its type with `+zlib` added; values written
before (or below the threshold) keep their plain type, and both are read.
"""

from __future__ import annotations

import zlib
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

SUFFIX = "+zlib"


class CompressedSerializer(JsonPlusSerializer):
    """`JsonPlusSerializer` whose values of `threshold` bytes or more are zlib-compressed."""

    def __init__(self, *, threshold: int = 512, level: int = 1, **options: Any) -> None:
        super().__init__(**options)
        self.threshold = threshold
        self.level = level

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        type_, data = super().dumps_typed(obj)
        if len(data) < self.threshold:
            return type_, data
        return type_ + SUFFIX, zlib.compress(data, self.level)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        type_, payload = data
        if type_.endswith(SUFFIX):
            return super().loads_typed((type_.removesuffix(SUFFIX), zlib.decompress(payload)))
        return super().loads_typed(data)
