"""The whole pipeline against a real OpenAI-compatible server, when one is given.

Set `LLM_TEST_BASE_URL` (e.g. `http://127.0.0.1:8080/v1` for llama.cpp's `llama-server` with a
small GGUF model on CPU), and optionally `LLM_TEST_MODEL`, `LLM_TEST_API_KEY` and
`LLM_TEST_STRUCTURED_OUTPUT` (default `function_calling`, what llama.cpp supports). Without
`LLM_TEST_BASE_URL` there is no server to talk to and the test is skipped. It asserts the
structure of what the model added, never its wording.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import get_args

import pytest

from domain.records import Intent, ModelOutcome
from service.wiring import open_services
from tests.helpers import lead_payload, make_settings, submit_and_run

BASE_URL = os.environ.get("LLM_TEST_BASE_URL")

pytestmark = pytest.mark.skipif(
    not BASE_URL, reason="LLM_TEST_BASE_URL names no OpenAI-compatible server to test against"
)


async def test_a_lead_runs_end_to_end_with_a_real_model(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        LLM_MODEL=os.environ.get("LLM_TEST_MODEL", "local"),
        OPENAI_API_KEY=os.environ.get("LLM_TEST_API_KEY", "any"),
        OPENAI_BASE_URL=BASE_URL,
        LLM_STRUCTURED_OUTPUT=os.environ.get("LLM_TEST_STRUCTURED_OUTPUT", "function_calling"),
        LLM_TIMEOUT_S=120,
        LLM_DEADLINE_S=300,
    )
    async with open_services(settings) as services:
        state = await submit_and_run(services, lead_payload())

    assisted = state["assist"]
    assert [c["task"] for c in assisted["calls"]] == ["classify", "draft"]
    for call in assisted["calls"]:
        assert call["outcome"] in get_args(ModelOutcome)
        assert call["ms"] > 0
    if assisted["calls"][0]["outcome"] == "ok":
        verdict = assisted["classification"]
        assert verdict["intent"] in get_args(Intent)
        assert abs(verdict["adjustment"]) <= settings.llm_max_adjustment
        assert all(e["quote"] for e in verdict["signals"])
    if "draft" in assisted:
        assert assisted["draft"]["used"] == (not assisted["draft"]["problems"])
        assert state["draft"]["method"] == ("model" if assisted["draft"]["used"] else "template")
    assert state["status"] == "completed"
