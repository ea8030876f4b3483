"""Render the text templates in `prompts/`; a missing variable is an error, never a blank."""

from __future__ import annotations

import functools
import hashlib
import string
from pathlib import Path
from typing import Any

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


class TemplateError(KeyError):
    """A template names a variable the caller did not give."""


@functools.cache
def _template(name: str) -> string.Template:
    return string.Template((PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8"))


def render(name: str, **variables: Any) -> str:
    """Fill `prompts/<name>.md` (`$variable` placeholders) with the given values."""
    try:
        return _template(name).substitute(variables)
    except KeyError as exc:
        raise TemplateError(f"prompts/{name}.md needs ${exc.args[0]}") from None


def sections(text: str) -> dict[str, str]:
    """Split a rendered template into its `## heading` sections."""
    out: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip().lower()
            out[current] = ""
        elif current:
            out[current] += line + "\n"
    return {key: value.strip() for key, value in out.items()}


@functools.cache
def version(name: str) -> str:
    """`name@<first 8 hex of the file's SHA-256>`: stamped in the record beside each answer."""
    digest = hashlib.sha256((PROMPTS_DIR / f"{name}.md").read_bytes()).hexdigest()
    return f"{name}@{digest[:8]}"


def chat(name: str, **variables: Any) -> tuple[str, str]:
    """The (system, user) messages of a chat prompt with `## system` and `## user` sections."""
    parts = sections(render(name, **variables))
    return parts["system"], parts["user"]
