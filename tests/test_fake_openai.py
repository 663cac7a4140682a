"""The hand-written OpenAI double behaves like an endpoint to the real openai client."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import openai
import pytest
from fake_openai import FakeOpenAI, Reply, chat_completion

MESSAGES = [{"role": "user", "content": "hi"}]
# openai honours retry-after-ms first; 1 ms keeps retry tests fast.
SOON = {"retry-after-ms": "1"}


def _client(fake: FakeOpenAI, **options: Any) -> Any:
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", **options)


def _ask(client: Any) -> Any:
    return client.chat.completions.create(model="fake", messages=MESSAGES, max_tokens=8)


def test_answers_a_chat_completion_and_records_the_request() -> None:
    with FakeOpenAI([Reply(body=chat_completion("hello", prompt_tokens=3))]) as fake:
        completion = _ask(_client(fake))
    assert completion.choices[0].message.content == "hello"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 3
    assert fake.calls == 1
    assert fake.requests[0]["messages"] == MESSAGES
    assert fake.requests[0]["max_tokens"] == 8


def test_tool_call_arguments_are_a_json_string() -> None:
    reply = Reply(body=chat_completion(tool_args={"decision": "upheld"}, tool_name="Rec"))
    with FakeOpenAI([reply]) as fake:
        message = _ask(_client(fake)).choices[0]
    call = message.message.tool_calls[0]
    assert message.finish_reason == "tool_calls"
    assert call.function.name == "Rec"
    assert json.loads(call.function.arguments) == {"decision": "upheld"}


def test_raw_tool_arguments_are_sent_as_given() -> None:
    body = chat_completion(tool_args='{"decision": "upl')
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == (
        '{"decision": "upl'
    )


def test_server_error_then_success_makes_two_calls() -> None:
    with FakeOpenAI([Reply(status=500, headers=SOON), Reply(body=chat_completion("ok"))]) as fake:
        completion = _ask(_client(fake, max_retries=1))
    assert completion.choices[0].message.content == "ok"
    assert fake.calls == 2


def test_rate_limit_with_retry_after_zero_is_retried() -> None:
    # openai ignores a zero Retry-After and falls back to its own 0.5-1 s backoff.
    replies = [Reply(status=429, headers={"Retry-After": "0"}), Reply()]
    with FakeOpenAI(replies) as fake:
        _ask(_client(fake, max_retries=2))
    assert fake.calls == 2


def test_exhausted_script_repeats_its_last_reply() -> None:
    with (
        FakeOpenAI([Reply(status=503, headers=SOON)]) as fake,
        pytest.raises(openai.InternalServerError),
    ):
        _ask(_client(fake, max_retries=2))
    assert fake.calls == 3


def test_malformed_json_body_fails_without_retry() -> None:
    # openai 3.x lets the json.JSONDecodeError of a 200 body escape as is, not as an APIError.
    with (
        FakeOpenAI([Reply(body="{not json")]) as fake,
        pytest.raises(json.JSONDecodeError),
    ):
        _ask(_client(fake, max_retries=2))
    assert fake.calls == 1


def test_dropped_connection_is_a_connection_error() -> None:
    with FakeOpenAI([Reply(drop=True)]) as fake, pytest.raises(openai.APIConnectionError):
        _ask(_client(fake))
    assert fake.calls == 1


def test_slow_reply_times_out_and_shutdown_does_not_wait_for_it() -> None:
    started = time.monotonic()
    with FakeOpenAI([Reply(delay=30)]) as fake, pytest.raises(openai.APITimeoutError):
        _ask(_client(fake, timeout=0.2))
    assert time.monotonic() - started < 5


def test_callable_script_sees_each_request() -> None:
    def echo(body: dict[str, Any]) -> Reply:
        return Reply(body=chat_completion(body["messages"][-1]["content"].upper()))

    with FakeOpenAI(echo) as fake:
        assert _ask(_client(fake)).choices[0].message.content == "HI"


def test_lists_models() -> None:
    with FakeOpenAI() as fake:
        models = _client(fake).models.list()
        with urllib.request.urlopen(f"{fake.base_url}/models") as response:
            listed = json.load(response)
    assert [m.id for m in models.data] == ["fake"]
    assert listed["data"][0]["id"] == "fake"
    assert fake.calls == 0
