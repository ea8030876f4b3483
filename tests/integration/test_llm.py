"""The language-model adapter (`tools/llm_openai.py`) over the real `ChatOpenAI` and HTTP.

The local server of `tests/fakes/openai_server.py` answers from a script: valid answers by
json_schema and by function calling, malformed JSON, schema violations, refusals, 429 with
`Retry-After`, 5xx, timeouts and answers later than the deadline. `ask` never raises: each
case ends in an outcome the graph falls back on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from domain.assist import IntentVerdict
from offline.evals import intent as intent_eval
from service.wiring import open_services
from tests.fakes.openai_server import (
    API_KEY,
    MODEL,
    ApiError,
    Delayed,
    FakeOpenAI,
    Raw,
    Refusal,
    running_openai,
)
from tests.fakes.slack_server import running_slack
from tests.helpers import lead_payload, make_settings, submit_and_run
from tools.llm_openai import Breaker, OpenAIChatModel

VERDICT: dict[str, Any] = {
    "intent": "demo",
    "is_spam": False,
    "spam_reason": None,
    "signals": [{"kind": "timeline", "quote": "this quarter"}],
    "injection": False,
    "injection_quote": None,
    "seniority": "vp",
    "department": "revops",
    "score_adjustment": 4,
    "adjustment_reason": "a dated need",
}


@pytest.fixture
def server() -> Iterator[tuple[str, FakeOpenAI]]:
    with running_openai() as served:
        yield served


@pytest.fixture
def llama() -> Iterator[tuple[str, FakeOpenAI]]:
    with running_openai(require_json_schema=False) as served:
        yield served


def adapter(base_url: str, **options: Any) -> OpenAIChatModel:
    defaults: dict[str, Any] = {"timeout_s": 1.0, "deadline_s": 5.0}
    return OpenAIChatModel(
        model=MODEL, api_key=API_KEY, base_url=base_url, **{**defaults, **options}
    )


@pytest.fixture
async def model(server: tuple[str, FakeOpenAI]) -> AsyncIterator[OpenAIChatModel]:
    chat = adapter(server[0])
    yield chat
    await chat.close()


async def ask(chat: OpenAIChatModel) -> Any:
    return await chat.ask("classify", "classify@test", "system words", "user words", IntentVerdict)


async def test_a_valid_answer_is_parsed_with_its_tokens(
    model: OpenAIChatModel, server: tuple[str, FakeOpenAI]
) -> None:
    server[1].reply_next(VERDICT)
    answer = await ask(model)
    assert answer.parsed == IntentVerdict.model_validate(VERDICT)
    call = answer.call
    assert (call["outcome"], call["attempts"], call["model"]) == ("ok", 1, MODEL)
    assert call["prompt"] == "classify@test" and call["task"] == "classify"
    assert call["prompt_tokens"] > 0 and call["completion_tokens"] > 0
    body = server[1].chat_bodies()[0]
    assert body["response_format"]["type"] == "json_schema"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


async def test_function_calling_works_where_json_schema_is_refused(
    llama: tuple[str, FakeOpenAI],
) -> None:
    """A llama.cpp-style server refuses json_schema: function calling is the setting to use."""
    base_url, fake = llama
    refused = adapter(base_url)
    fake.reply_next(VERDICT)
    assert (await ask(refused)).call["outcome"] == "error"
    await refused.close()

    calling = adapter(base_url, method="function_calling")
    fake.reply_next(VERDICT)
    answer = await ask(calling)
    await calling.close()
    assert answer.call["outcome"] == "ok" and answer.parsed is not None
    assert "tools" in fake.chat_bodies()[-1]


@pytest.mark.parametrize(
    "reply",
    [
        Raw('{"intent": "demo", "is_spam": '),
        Raw('{"intent": "shopping", "is_spam": false}'),
        {**VERDICT, "intent": "world domination"},
    ],
    ids=["malformed-json", "missing-fields", "unknown-intent"],
)
async def test_an_answer_that_breaks_the_schema_is_invalid(
    model: OpenAIChatModel, server: tuple[str, FakeOpenAI], reply: Any
) -> None:
    server[1].reply_next(reply)
    answer = await ask(model)
    assert answer.parsed is None
    assert answer.call["outcome"] == "invalid" and answer.call["error"]
    assert not model.breaker.failed  # a bad answer is not an outage


async def test_a_malformed_tool_call_is_invalid(llama: tuple[str, FakeOpenAI]) -> None:
    base_url, fake = llama
    chat = adapter(base_url, method="function_calling")
    fake.reply_next(Raw("{not json"))
    answer = await ask(chat)
    await chat.close()
    assert answer.parsed is None and answer.call["outcome"] == "invalid"


async def test_a_refusal_is_recorded_as_such(
    model: OpenAIChatModel, server: tuple[str, FakeOpenAI]
) -> None:
    server[1].reply_next(Refusal("I can't help with that."))
    answer = await ask(model)
    assert answer.parsed is None
    assert answer.call["outcome"] == "refused" and "can't help" in answer.call["error"]


async def test_429_waits_as_retry_after_says_then_succeeds(
    model: OpenAIChatModel, server: tuple[str, FakeOpenAI]
) -> None:
    fake = server[1]
    fake.reply_next(ApiError(429, retry_after=0.3), VERDICT)
    answer = await ask(model)
    assert answer.call["outcome"] == "ok" and answer.call["attempts"] == 2
    first, second = [r for r in fake.requests if r.path.endswith("/chat/completions")]
    assert second.at - first.at >= 0.3


async def test_5xx_is_retried_and_a_lasting_outage_is_an_error(
    model: OpenAIChatModel, server: tuple[str, FakeOpenAI]
) -> None:
    fake = server[1]
    fake.reply_next(ApiError(500), VERDICT)
    assert (await ask(model)).call["attempts"] == 2
    fake.reply_next(ApiError(503), ApiError(503), ApiError(503))
    answer = await ask(model)
    assert (answer.call["outcome"], answer.call["attempts"]) == ("error", 3)
    assert "HTTP 503" in answer.call["error"]


async def test_calls_tokens_retries_and_failures_are_counted_in_the_metrics(
    model: OpenAIChatModel, server: tuple[str, FakeOpenAI]
) -> None:
    """Each call counts by outcome with its reported tokens; a retried 500 counts a retry of
    the `llm` backend, an outage that outlasts the retries counts a failure."""

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    call = {"model": MODEL, "task": "classify"}
    names = [
        ("lead_router_model_calls_total", {**call, "outcome": "ok"}),
        ("lead_router_model_calls_total", {**call, "outcome": "error"}),
        ("lead_router_model_tokens_total", {**call, "kind": "prompt"}),
        ("lead_router_model_tokens_total", {**call, "kind": "completion"}),
        ("lead_router_model_call_duration_seconds_count", call),
        ("lead_router_backend_retries_total", {"backend": "llm"}),
        ("lead_router_backend_failures_total", {"backend": "llm"}),
    ]
    before = [sample(name, **labels) for name, labels in names]
    server[1].reply_next(ApiError(500), VERDICT)
    ok = (await ask(model)).call
    server[1].reply_next(ApiError(503), ApiError(503), ApiError(503))
    assert (await ask(model)).call["outcome"] == "error"
    counted = [
        sample(name, **labels) - was for (name, labels), was in zip(names, before, strict=True)
    ]
    tokens = [ok["prompt_tokens"], ok["completion_tokens"]]
    assert counted == [1, 1, *tokens, 2, 1 + 2, 1]
    assert min(tokens) > 0


async def test_a_slow_answer_times_out_and_a_late_one_is_dropped(
    server: tuple[str, FakeOpenAI],
) -> None:
    base_url, fake = server
    slow = adapter(base_url, timeout_s=0.2, max_attempts=1)
    fake.reply_next(Delayed(0.6, VERDICT))
    assert (await ask(slow)).call["outcome"] == "timeout"
    await slow.close()

    late = adapter(base_url, timeout_s=2.0, deadline_s=0.3)
    fake.reply_next(Delayed(0.8, VERDICT))
    answer = await ask(late)
    await late.close()
    assert answer.parsed is None and answer.call["outcome"] == "late"


async def test_the_breaker_turns_an_outage_into_an_immediate_fallback(
    server: tuple[str, FakeOpenAI],
) -> None:
    base_url, fake = server
    now = [0.0]
    chat = adapter(
        base_url, max_attempts=1, breaker=Breaker(failures=2, cooldown_s=30, clock=lambda: now[0])
    )
    fake.reply_next(ApiError(500), ApiError(500))
    assert [(await ask(chat)).call["outcome"] for _ in range(2)] == ["error", "error"]
    sent = len(fake.chat_bodies())

    opened = await ask(chat)
    assert opened.call["outcome"] == "breaker_open" and opened.call["attempts"] == 0
    assert len(fake.chat_bodies()) == sent  # nothing was sent

    now[0] = 31.0  # after the cooldown one call tries again, and success closes the breaker
    fake.reply_next(VERDICT)
    assert (await ask(chat)).call["outcome"] == "ok"
    assert not chat.breaker.is_open
    await chat.close()


def draft_reply(request: dict[str, Any]) -> dict[str, Any]:
    """The server's answer to whichever prompt it is asked: a verdict or a short draft."""
    system = request["messages"][0]["content"]
    if "first-touch email" in system:
        return {
            "language": "en",
            "subject": "Your demo request",
            "body": "Hi Lena,\n\nThanks — happy to show it this week.\n\nBest regards",
        }
    return VERDICT


async def test_the_service_tells_the_rep_first_then_edits_the_message_once(
    tmp_path: Path, server: tuple[str, FakeOpenAI]
) -> None:
    """With LLM_MODEL set the graph runs assist after notify: the outbox message is edited
    once with the model's reading and draft, and the record shows every call."""
    base_url, fake = server
    fake.responder = draft_reply
    settings = make_settings(
        tmp_path, LLM_MODEL=MODEL, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=base_url
    )
    async with open_services(settings) as services:
        assert (await services.health())["llm"]["backend"] == "OpenAIChatModel"
        state = await submit_and_run(services, lead_payload())
        assert services.outbox is not None
        messages = await services.outbox.list(lead_id=state["lead_id"])

    assisted = state["assist"]
    assert [(c["task"], c["outcome"]) for c in assisted["calls"]] == [
        ("classify", "ok"),
        ("draft", "ok"),
    ]
    assert all(c["prompt_tokens"] > 0 and c["ms"] > 0 for c in assisted["calls"])
    assert assisted["calls"][0]["prompt"].startswith("classify@")
    assert state["draft"]["method"] == "model" and "happy to show it" in state["draft"]["body"]
    assert assisted["message_updated"] is True
    assert len(fake.chat_bodies()) == 2
    (message,) = [m for m in messages if m["key"].endswith(":rep")]
    assert "happy to show it" in json.dumps(message["blocks"])
    assert "The model's reading" in json.dumps(message["blocks"])
    assert "intent demo (agrees with the rules)" in json.dumps(message["blocks"])


async def test_without_a_model_nothing_asks_one(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_services(settings) as services:
        state = await submit_and_run(services, lead_payload())
        assert (await services.health())["llm"]["backend"] is None
    assert "assist" not in state and state["draft"]["method"] == "template"


def test_eval_intent_measures_the_configured_model_beside_the_rules(
    server: tuple[str, FakeOpenAI],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`eval intent` with LLM_MODEL set asks the model for every message (here one that always
    says demo) and prints its figures beside the rules'."""
    base_url, fake = server
    fake.responder = lambda _request: VERDICT
    for name, value in (
        ("LLM_MODEL", MODEL),
        ("OPENAI_API_KEY", API_KEY),
        ("OPENAI_BASE_URL", base_url),
    ):
        monkeypatch.setenv(name, value)
    assert intent_eval.cli(["--show", "0"]) == 0
    summary = json.loads(capsys.readouterr().out.rstrip("\n").rpartition("\n")[2])
    assert summary["model_name"] == MODEL
    for split in ("dev", "test"):
        model = summary["model"][split]
        assert model["n"] == 112
        assert model["accuracy"] == pytest.approx(16 / 112, abs=0.01)  # only demo is right
        assert summary["rules"][split]["accuracy"] > model["accuracy"]
    assert len(fake.chat_bodies()) == 224


async def test_the_slack_message_is_edited_once_with_the_model_answer(
    tmp_path: Path, server: tuple[str, FakeOpenAI]
) -> None:
    """Slack gets the rules' message first (chat.postMessage), then exactly one chat.update
    carrying the model's draft, even when the lead is run again."""
    base_url, fake = server
    fake.responder = draft_reply
    with running_slack(token="xoxb-test") as (slack_url, slack):
        settings = make_settings(
            tmp_path,
            LLM_MODEL=MODEL,
            OPENAI_API_KEY=API_KEY,
            OPENAI_BASE_URL=base_url,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_API_URL=slack_url,
            SLACK_MIN_POST_INTERVAL_S=0,
        )
        async with open_services(settings) as services:
            state = await submit_and_run(services, lead_payload())
            assert await services.runner.process(state["lead_id"]) == "done"
        receipt = state["deliveries"]["rep.message"]
        (message,) = [m for m in slack.messages(receipt["channel"]) if m["ts"] == receipt["ts"]]
        posts, updates = slack.count("chat.postMessage"), slack.count("chat.update")

    assert updates == 1
    assert posts == 1
    assert message.get("edited") and "happy to show it" in json.dumps(message["blocks"])
    assert state["assist"]["message_updated"] is True
