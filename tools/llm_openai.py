"""The `ChatModel` port on `langchain_openai.ChatOpenAI`: any OpenAI-compatible server.

Structured output uses `json_schema` (OpenAI) or `function_calling` (servers such as
llama.cpp's, which refuse `json_schema`), always with `include_raw=True`, and every answer is
validated again with the caller's pydantic model. The SDK's own retries are off: tenacity
retries 429 (waiting what `Retry-After` says, within the deadline), 5xx, timeouts and dropped
connections. Consecutive failures open a circuit breaker, so an outage costs each lead an
immediate fallback to rules instead of a timeout. `ask` never raises for a failed call; the
outcome, attempts, tokens and milliseconds are in the returned `ModelCall`, and in the
metrics: calls by outcome, tokens, duration, retries and calls given up (backend `llm`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal

import httpx
import openai
import structlog
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from domain.records import ModelCall, ModelOutcome
from tools import metrics
from tools.ports import Answer, ModelAnswer
from tools.retry import give_up

log = structlog.get_logger("lead_router.llm")

Method = Literal["json_schema", "function_calling"]
RETRY_AFTER_MAX_S = 30.0


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, openai.APITimeoutError | openai.APIConnectionError)


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked to wait (`Retry-After`), if it did."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    value = exc.response.headers.get("retry-after")
    try:
        return min(float(value), RETRY_AFTER_MAX_S) if value is not None else None
    except ValueError:
        return None


class Breaker:
    """Opens after `failures` failed calls in a row; lets one call try again after `cooldown_s`."""

    def __init__(
        self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures, self.cooldown_s, self.clock = failures, cooldown_s, clock
        self.failed = 0
        self.opened_at: float | None = None

    def allows(self) -> bool:
        if self.opened_at is None:
            return True
        if self.clock() - self.opened_at >= self.cooldown_s:
            self.opened_at = self.clock()  # half open: this call tries, the next ones wait
            return True
        return False

    def record(self, ok: bool) -> None:
        if ok:
            self.failed, self.opened_at = 0, None
            return
        self.failed += 1
        if self.failed >= self.failures:
            if self.opened_at is None:
                log.warning("language model unavailable; using rules", failures=self.failed)
            self.opened_at = self.clock()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


class OpenAIChatModel:
    """`ChatModel` over an OpenAI-compatible chat completions endpoint."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        method: Method = "json_schema",
        timeout_s: float = 10.0,
        deadline_s: float = 20.0,
        max_attempts: int = 3,
        breaker: Breaker | None = None,
    ) -> None:
        self.name = model
        self.method = method
        self.deadline_s = deadline_s
        self.max_attempts = max_attempts
        self.breaker = breaker or Breaker(failures=3, cooldown_s=30.0)
        # Its own HTTP client: langchain-openai otherwise shares one per base URL per process.
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self._chat = ChatOpenAI(
            model=model,
            api_key=SecretStr(api_key),
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
            temperature=0,
            http_async_client=self._http,
        )

    async def close(self) -> None:
        await self._http.aclose()

    def _count(self, call: ModelCall) -> None:
        labels = {"model": self.name, "task": call["task"]}
        metrics.MODEL_CALLS.labels(**labels, outcome=call["outcome"]).inc()
        if call["attempts"]:
            metrics.MODEL_DURATION.labels(**labels).observe(call["ms"] / 1000)
        for kind, tokens in (
            ("prompt", call["prompt_tokens"]),
            ("completion", call["completion_tokens"]),
        ):
            if tokens:
                metrics.MODEL_TOKENS.labels(**labels, kind=kind).inc(tokens)

    def _wait(self, state: RetryCallState) -> float:
        asked = _retry_after(state.outcome.exception() if state.outcome else None)
        backoff = wait_exponential_jitter(multiplier=0.5, max=8.0)(state)
        return asked if asked is not None else backoff

    async def ask(
        self, task: str, prompt: str, system: str, user: str, schema: type[Answer]
    ) -> ModelAnswer[Answer]:
        """Ask for an answer shaped like `schema`; see the module docstring for outcomes."""
        started = time.perf_counter()
        call: ModelCall = {
            "task": task,
            "model": self.name,
            "prompt": prompt,
            "outcome": "error",
            "ms": 0.0,
            "attempts": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }

        def done(
            outcome: ModelOutcome, parsed: Answer | None = None, error: str = ""
        ) -> ModelAnswer[Answer]:
            call["outcome"] = outcome
            call["ms"] = round((time.perf_counter() - started) * 1000, 1)
            if error:
                call["error"] = error[:300]
            if outcome not in {"breaker_open", "invalid", "refused"}:
                self.breaker.record(outcome == "ok")
            log.info("model call", task=task, outcome=outcome, ms=call["ms"])
            self._count(call)
            return ModelAnswer(parsed, call)

        if not self.breaker.allows():
            return done("breaker_open", error="the model failed repeatedly; rules used")
        runnable = self._chat.with_structured_output(schema, method=self.method, include_raw=True)
        messages = [SystemMessage(system), HumanMessage(user)]
        try:
            async with asyncio.timeout(self.deadline_s):
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception(_retryable),
                    stop=give_up(stop_after_attempt(self.max_attempts), backend="llm"),
                    wait=self._wait,
                    before_sleep=lambda _: metrics.backend_retried("llm"),
                    reraise=True,
                ):
                    with attempt:
                        call["attempts"] += 1
                        result = await runnable.ainvoke(messages)
        except TimeoutError:
            metrics.backend_failed("llm")
            return done("late", error=f"no answer within {self.deadline_s:g} s")
        except (ValidationError, OutputParserException, openai.LengthFinishReasonError) as exc:
            # json_schema checks the answer inside the call: a malformed one raises here.
            return done("invalid", error=f"{type(exc).__name__}: {exc}")
        except openai.APITimeoutError as exc:
            return done("timeout", error=str(exc))
        except openai.APIStatusError as exc:
            return done("error", error=f"HTTP {exc.status_code}: {exc.message}")
        except Exception as exc:  # a malformed response body, a connection that broke …
            return done("error", error=f"{type(exc).__name__}: {exc}")
        raw = result.get("raw")
        if isinstance(raw, AIMessage) and raw.usage_metadata:
            call["prompt_tokens"] = raw.usage_metadata.get("input_tokens", 0)
            call["completion_tokens"] = raw.usage_metadata.get("output_tokens", 0)
        refusal = raw.additional_kwargs.get("refusal") if isinstance(raw, AIMessage) else None
        if refusal:
            return done("refused", error=str(refusal))
        parsed, problem = result.get("parsed"), result.get("parsing_error")
        if parsed is None:
            if problem:
                why = f"{type(problem).__name__}: {problem}"
            elif isinstance(raw, AIMessage) and raw.invalid_tool_calls:
                why = f"malformed tool arguments: {raw.invalid_tool_calls[0].get('error')}"
            else:
                why = "no structured answer"
            return done("invalid", error=why)
        try:
            answer = schema.model_validate(
                parsed.model_dump() if hasattr(parsed, "model_dump") else parsed
            )
        except ValidationError as exc:
            return done("invalid", error=str(exc))
        return done("ok", answer)
