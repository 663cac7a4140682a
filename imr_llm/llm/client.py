"""The extraction client: instructor on an openai client, with our re-ask policy."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
import json
import logging
import os
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

import instructor
import openai
import pydantic
import tenacity
from instructor.core import IncompleteOutputException, InstructorRetryException
from instructor.core.hooks import Hooks

from imr_llm.anchors.finder import Anchors
from imr_llm.errors import LlmError, LlmOutputError, LlmUnavailableError, UsageError
from imr_llm.extraction.answer import Answer
from imr_llm.extraction.prompts import render
from imr_llm.extraction.settings import DEFAULT_MODEL, MODE_NAMES, Connection, LlmSettings
from imr_llm.extraction.verify import blocking, checking_against, compare
from imr_llm.llm.gbnf import GrammarError, schema_grammar

logging.getLogger("instructor").addHandler(logging.NullHandler())
logging.getLogger("instructor").propagate = False

# Wrapped once: instructor otherwise builds a new wrapper class (and its JSON schema) for
# every request, which costs more CPU than the rest of a letter's processing.
_RESPONSE_MODEL = instructor.response_schema(Answer)
_ANSWER_SCHEMA = Answer.model_json_schema()

MODES = {
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
    "md_json": instructor.Mode.MD_JSON,
    "json_schema": instructor.Mode.JSON_SCHEMA,
}
assert set(MODES) == set(MODE_NAMES)


@dataclass(slots=True)
class Attempt:
    """One answer from the model, kept even when it failed validation."""

    raw: str
    prompt_tokens: int
    completion_tokens: int
    answer: Answer | None = None
    conflicts: int = 0


M = TypeVar("M", bound=pydantic.BaseModel)


@dataclass(slots=True)
class Reply(Generic[M]):
    """What one focused call produced: the accepted value, else the last one that parsed."""

    value: M | None
    accepted: bool
    attempts: list[Attempt] = field(default_factory=list)
    error: LlmError | None = None


@cache
def _schema_of(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


@cache
def _wrapped(model: type[pydantic.BaseModel]) -> Any:
    # Once per class: instructor otherwise rebuilds the wrapper and its schema every request.
    return instructor.response_schema(model)


def _limits_of(model: type[pydantic.BaseModel]) -> dict[str, int]:
    limits: dict[str, int] = getattr(model, "GRAMMAR_LIMITS", {})
    return limits


def _models_within(model: type[pydantic.BaseModel]) -> list[type[pydantic.BaseModel]]:
    """``model`` and every model its fields hold, at any depth (in lists, optionals...)."""
    found: list[type[pydantic.BaseModel]] = []
    todo: list[Any] = [model]
    while todo:
        kind = todo.pop()
        if isinstance(kind, type) and issubclass(kind, pydantic.BaseModel):
            if kind not in found:
                found.append(kind)
                todo += [f.annotation for f in kind.model_fields.values()]
        else:
            todo += typing.get_args(kind)
    return found


def _bound(properties: dict[str, Any], limits: dict[str, int]) -> None:
    """Set ``limits`` on a schema's properties: maxLength on strings, maxItems on lists.

    ``"name[]"`` bounds each element of the list ``name``.
    """
    for name, limit in limits.items():
        prop = properties[name.removesuffix("[]")]
        if name.endswith("[]"):
            prop = prop["items"]
        for option in prop.get("anyOf", [prop]):
            if option.get("type") == "string":
                option["maxLength"] = limit
            elif option.get("type") == "array":
                option["maxItems"] = limit


@cache
def format_digest(
    models: tuple[type[pydantic.BaseModel], ...], *, compact: bool, gbnf: bool
) -> str:
    """12 hex characters naming the answer formats sent for ``models`` under these settings.

    The length limits and the grammar are not in a model's JSON schema, yet they change what
    a model writes: the response cache keys on this digest too. Empty when neither is on.
    Cached (every letter's key asks for it), as ``_format_body`` is.
    """
    if not (compact or gbnf):
        return ""
    bodies = [_format_body(model, compact, gbnf) for model in models]
    return hashlib.sha256(json.dumps(bodies, sort_keys=True).encode("utf-8")).hexdigest()[:12]


@cache
def _format_body(
    model: type[pydantic.BaseModel], compact: bool, gbnf: bool
) -> dict[str, Any] | None:
    """The request-body fields that replace instructor's json_schema response_format.

    - ``compact``: the schema with length limits a grammar server enforces. A small model on
      llama.cpp writes long free text ("summary") at a few tokens a second; ``maxLength``
      (``maxItems`` for a list) becomes a grammar bound there. OpenAI's strict mode rejects
      the keywords, so they are sent only on request.
    - ``gbnf`` (llama.cpp only): that schema as a GBNF grammar of one-line JSON in llama.cpp's
      ``grammar`` field, and no response_format (llama.cpp refuses both). llama.cpp's own
      translation of a schema lets a small model spend a fifth of its tokens on newlines and
      indentation. A schema the translation does not cover keeps the response_format.

    Cached per model: the result is shared, never to be changed by a caller.
    """
    schema = _schema_of(model)
    bounded = {cls: limits for cls in _models_within(model) if (limits := _limits_of(cls))}
    if compact and bounded:
        schema = copy.deepcopy(schema)
        for cls, limits in bounded.items():
            target = schema if cls is model else schema["$defs"][cls.__name__]
            _bound(target["properties"], limits)
    if gbnf:
        with contextlib.suppress(GrammarError):
            return {"response_format": None, "grammar": schema_grammar(schema)}
    if not (compact and bounded):
        return None
    format_ = {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": schema}}
    return {"response_format": format_}


def _last_parsed(model: type[M], attempts: list[Attempt]) -> M | None:
    """The last attempt that is valid on its own (the cross-check aside), if any.

    Parsed in an empty context: a cross-check set by a context variable around the call
    (itemwise's necessity check, the anchors check) would otherwise refuse every attempt
    again, and the item would lose its answer instead of being flagged.
    """
    for attempt in reversed(attempts):
        text = _answer_text_of(attempt.raw) or "null"
        try:
            return contextvars.Context().run(model.model_validate_json, text)
        except (pydantic.ValidationError, ValueError):
            continue
    return None


@dataclass(slots=True)
class CallResult:
    """What one extraction call produced: the accepted answer (if any) and every attempt."""

    answer: Answer | None
    attempts: list[Attempt] = field(default_factory=list)
    error: LlmError | None = None


def retry_policy(
    max_reasks: int, *, asynchronous: bool = False
) -> tenacity.Retrying | tenacity.AsyncRetrying:
    """Re-ask only when the answer failed validation; transport errors are not ours."""
    policy = tenacity.AsyncRetrying if asynchronous else tenacity.Retrying
    # Not json.JSONDecodeError: openai raises it for a malformed HTTP body, which is a
    # transport fault; a malformed answer inside a good body is a pydantic error.
    return policy(
        stop=tenacity.stop_after_attempt(max_reasks + 1),
        retry=tenacity.retry_if_exception_type(pydantic.ValidationError),
        wait=tenacity.wait_none(),
        reraise=True,
    )


def _answer_text(completion: Any) -> str:
    # Some servers answer 200 with no choices (a filtered or failed generation).
    choices = getattr(completion, "choices", None)
    if not choices:
        return ""
    message = choices[0].message
    calls = getattr(message, "tool_calls", None) or []
    if calls:
        return str(calls[0].function.arguments)
    text = str(message.content or "")
    if "```" in text:
        text = text.split("```")[1].removeprefix("json")
    return text


def _answer_text_of(raw: str) -> str:
    """The answer text inside one raw completion as recorded (a serialized ChatCompletion)."""
    try:
        completion = openai.types.chat.ChatCompletion.model_validate_json(raw)
    except (pydantic.ValidationError, ValueError):
        return ""
    return _answer_text(completion)


def _parse(raw_text: str, anchors: Anchors) -> tuple[Answer | None, int]:
    try:
        answer = Answer.model_validate_json(raw_text)
    except (pydantic.ValidationError, ValueError):
        return None, 0
    return answer, sum(1 for c in compare(answer, anchors) if blocking(c))


class _Recorder:
    """Per-call hooks: keep every raw completion and its own usage, flag truncation."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.seen: list[tuple[str, int, int, str]] = []
        self.hooks = Hooks()
        self.hooks.on("completion:response", self._on_response)

    def _on_response(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        # A 200 body that is not an object (e.g. a JSON list) arrives unparsed.
        raw = response.model_dump_json() if hasattr(response, "model_dump_json") else repr(response)
        # Usage is copied now: instructor later overwrites it with a running total.
        self.seen.append((raw, prompt, completion, _answer_text(response)))
        # llama.cpp reports "tool_calls" even when max_tokens cut the call short.
        if completion >= self.max_tokens and getattr(response, "choices", None):
            response.choices[0].finish_reason = "length"

    def plain_attempts(self) -> list[Attempt]:
        """Every completion with its usage, not parsed as a whole-letter Answer."""
        return [Attempt(raw, prompt, completion) for raw, prompt, completion, _ in self.seen]

    def attempts(self, anchors: Anchors, accepted: Answer | None = None) -> list[Attempt]:
        """Every completion, parsed; ``accepted`` is the last one's answer, already checked."""
        out = []
        for n, (raw, prompt, completion, text) in enumerate(self.seen, 1):
            if accepted is not None and n == len(self.seen):
                out.append(Attempt(raw, prompt, completion, accepted, 0))
                continue
            answer, conflicts = _parse(text, anchors)
            out.append(Attempt(raw, prompt, completion, answer, conflicts))
        return out


def _api_failure(exc: BaseException) -> openai.APIError | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, openai.APIError):
            return cause
        cause = cause.__cause__
    return None


def _error_for(exc: Exception, attempts: int) -> LlmError | None:
    """Map what instructor raised to our error, or None when re-asks simply ran out."""
    failure = _api_failure(exc)
    if failure is not None:
        return LlmUnavailableError(f"{type(failure).__name__}: {failure}", attempts=attempts)
    if isinstance(exc, IncompleteOutputException):
        return LlmOutputError("the answer was cut off at max_tokens", attempts=attempts)
    if isinstance(exc, InstructorRetryException):
        return None
    return LlmOutputError(f"{type(exc).__name__}: {exc}", attempts=attempts)


class LlmClient:
    """An OpenAI-compatible endpoint wrapped by instructor, with our settings."""

    def __init__(
        self,
        openai_client: openai.OpenAI | None = None,
        *,
        settings: LlmSettings | None = None,
        async_client: openai.AsyncOpenAI | None = None,
    ) -> None:
        if openai_client is None and async_client is None:
            raise UsageError("LlmClient needs an openai.OpenAI or openai.AsyncOpenAI client")
        self.settings = settings or LlmSettings()
        raw: Any = openai_client or async_client
        self._base_url, self._key = str(raw.base_url), str(raw.api_key)
        timeout = raw.timeout if isinstance(raw.timeout, int | float) else 120.0
        self._http = (float(timeout), int(raw.max_retries))
        mode = MODES[self.settings.mode]
        self._sync = instructor.from_openai(openai_client, mode=mode) if openai_client else None
        self._async = instructor.from_openai(async_client, mode=mode) if async_client else None

    @property
    def model(self) -> str:
        return self.settings.model

    def connection(self) -> Connection:
        """How to reach the endpoint from another process (it holds the key: memory only)."""
        timeout, retries = self._http
        return Connection(self._base_url, self._key, timeout, retries)

    @property
    def base_url(self) -> str:
        """The endpoint's base URL (never the key)."""
        return self._base_url

    def _kwargs(
        self, system: str, user: str, letter: str, anchors: Anchors, *, asynchronous: bool = False
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.settings.model,
            "response_model": _RESPONSE_MODEL,
            # The letter reaches the prompt only as a template variable: braces stay text.
            "messages": [
                {"role": "system", "content": render(system)},
                {"role": "user", "content": render(user, letter=letter)},
            ],
            "max_retries": retry_policy(self.settings.max_reasks, asynchronous=asynchronous),
            "max_tokens": self.settings.max_tokens,
            "temperature": 0,
            # Lax parsing ("60" for 60): spelling is verify's business, not a re-ask's.
            "strict": False,
        }
        if self.settings.json_object_schema:
            schema = _ANSWER_SCHEMA
            kwargs["extra_body"] = {"response_format": {"type": "json_object", "schema": schema}}
        elif (body := self._format_body(Answer)) is not None:
            kwargs["extra_body"] = body
        return kwargs

    def _format_body(self, model: type[pydantic.BaseModel]) -> dict[str, Any] | None:
        """What replaces instructor's response_format in json_schema mode, if anything."""
        if self.settings.mode != "json_schema":
            return None
        return _format_body(model, self.settings.compact_json, self.settings.gbnf)

    def ask(self, system: str, user: str, letter: str, anchors: Anchors) -> CallResult:
        """Ask for an Answer, re-asking on conflicts with the anchors."""
        if self._sync is None:
            raise UsageError("this LlmClient was built with an async client only; use aask()")
        recorder = _Recorder(self.settings.max_tokens)
        try:
            with checking_against(anchors):
                answer = self._sync.chat.completions.create(
                    **self._kwargs(system, user, letter, anchors), hooks=recorder.hooks
                )
        except Exception as exc:  # instructor wraps everything; sorted out below
            return self._failed(exc, recorder, anchors)
        return CallResult(answer, recorder.attempts(anchors, answer))

    async def aask(self, system: str, user: str, letter: str, anchors: Anchors) -> CallResult:
        """Async twin of :meth:`ask`."""
        if self._async is None:
            raise UsageError("this LlmClient was built without an async client; use ask()")
        recorder = _Recorder(self.settings.max_tokens)
        try:
            with checking_against(anchors):
                answer = await self._async.chat.completions.create(
                    **self._kwargs(system, user, letter, anchors, asynchronous=True),
                    hooks=recorder.hooks,
                )
        except Exception as exc:  # instructor wraps everything; sorted out below
            return self._failed(exc, recorder, anchors)
        return CallResult(answer, recorder.attempts(anchors, answer))

    def _model_kwargs(
        self,
        model: type[pydantic.BaseModel],
        system: str,
        user: str,
        max_tokens: int | None,
        *,
        asynchronous: bool = False,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_retries": retry_policy(self.settings.max_reasks, asynchronous=asynchronous),
            "model": self.settings.model,
            "response_model": _wrapped(model),
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "max_tokens": max_tokens or self.settings.max_tokens,
            "temperature": 0,
            "strict": False,
        }
        if (body := self._format_body(model)) is not None:
            kwargs["extra_body"] = body
        return kwargs

    def ask_model(
        self, model: type[M], system: str, user: str, *, max_tokens: int | None = None
    ) -> Reply[M]:
        """One focused call for ``model`` (texts as sent, no templating), re-asked on conflict.

        Whatever validates ``model`` (its own validators, and any check they read from a
        context variable) decides a re-ask, under the same policy as :meth:`ask`.
        """
        if self._sync is None:
            raise UsageError("this LlmClient was built with an async client only; use aask_model()")
        recorder = _Recorder(max_tokens or self.settings.max_tokens)
        kwargs = self._model_kwargs(model, system, user, max_tokens)
        try:
            value = self._sync.chat.completions.create(**kwargs, hooks=recorder.hooks)
        except Exception as exc:  # instructor wraps everything; sorted out below
            return self._model_failed(model, exc, recorder)
        return Reply(value, True, recorder.plain_attempts())

    async def aask_model(
        self, model: type[M], system: str, user: str, *, max_tokens: int | None = None
    ) -> Reply[M]:
        """Async twin of :meth:`ask_model`."""
        if self._async is None:
            raise UsageError("this LlmClient was built without an async client; use ask_model()")
        recorder = _Recorder(max_tokens or self.settings.max_tokens)
        kwargs = self._model_kwargs(model, system, user, max_tokens, asynchronous=True)
        try:
            value = await self._async.chat.completions.create(**kwargs, hooks=recorder.hooks)
        except Exception as exc:  # instructor wraps everything; sorted out below
            return self._model_failed(model, exc, recorder)
        return Reply(value, True, recorder.plain_attempts())

    def _model_failed(self, model: type[M], exc: Exception, recorder: _Recorder) -> Reply[M]:
        attempts = recorder.plain_attempts()
        error = self._scrubbed(_error_for(exc, len(attempts)))
        value = _last_parsed(model, attempts)
        if error is None and value is None:
            error = LlmOutputError("no answer could be parsed", attempts=len(attempts))
        return Reply(value, False, attempts, error)

    def _scrubbed(self, error: LlmError | None) -> LlmError | None:
        if error is not None and len(self._key) > 8 and self._key in str(error):
            # Some proxies echo the Authorization header in their error bodies.
            message = str(error).replace(self._key, "<api key>")
            return type(error)(message, attempts=error.attempts)
        return error

    def _failed(self, exc: Exception, recorder: _Recorder, anchors: Anchors) -> CallResult:
        attempts = recorder.attempts(anchors)
        error = _error_for(exc, len(attempts))
        if error is None and not any(a.answer for a in attempts):
            error = LlmOutputError("no answer could be parsed", attempts=len(attempts))
        return CallResult(None, attempts, self._scrubbed(error))


def make_client(
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    mode: str = "tools",
    json_object_schema: bool = False,
    max_tokens: int = 1500,
    max_reasks: int = 2,
    strategy: str = "letter",
    compact_json: bool = False,
    gbnf: bool = False,
    timeout: float = 120.0,
    transport_retries: int = 2,
    http_client: Any = None,
) -> LlmClient:
    """Build a client for OpenAI or any OpenAI-compatible server (vLLM, Ollama, llama.cpp).

    ``http_client`` replaces the sync client's httpx client.
    """
    settings = LlmSettings(
        model=model or DEFAULT_MODEL,
        mode=mode,
        json_object_schema=json_object_schema,
        max_tokens=max_tokens,
        max_reasks=max_reasks,
        strategy=strategy,
        compact_json=compact_json,
        gbnf=gbnf,
    )
    # Local servers ignore the key, but the openai client insists on one.
    key = api_key or "sk-no-key-required"
    common: dict[str, Any] = {"base_url": base_url, "api_key": key, "timeout": timeout}
    common["max_retries"] = transport_retries
    sync = openai.OpenAI(**common, http_client=http_client)
    async_client = openai.AsyncOpenAI(**common)
    return LlmClient(sync, settings=settings, async_client=async_client)


def client_from_env(**overrides: Any) -> LlmClient:
    """A client configured from OPENAI_API_KEY, IMR_LLM_BASE_URL, IMR_LLM_MODEL, IMR_LLM_MODE,
    IMR_LLM_STRATEGY and IMR_LLM_GBNF (1: llama.cpp grammar of one-line JSON, with the
    length limits)."""
    gbnf = os.environ.get("IMR_LLM_GBNF", "").strip().lower() in {"1", "true", "yes", "on"}
    env: dict[str, Any] = {
        "api_key": os.environ.get("OPENAI_API_KEY"),
        "base_url": os.environ.get("IMR_LLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL"),
        "model": os.environ.get("IMR_LLM_MODEL"),
        "mode": os.environ.get("IMR_LLM_MODE") or "tools",
        "strategy": os.environ.get("IMR_LLM_STRATEGY") or "letter",
        "gbnf": gbnf,
        "compact_json": gbnf,
    }
    env.update({k: v for k, v in overrides.items() if v is not None})
    return make_client(**env)
