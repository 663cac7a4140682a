"""Our chat call sends what openai's chat.completions.create sends, in every instructor mode."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import instructor
import openai
import pytest
from anchored_answers import answer_for
from conftest import corpus_letter
from fake_openai import FakeOpenAI, Reply, chat_completion

from imr_llm.anchors import find_anchors
from imr_llm.answer import checking_against
from imr_llm.errors import UsageError
from imr_llm.llm import make_client
from imr_llm.llm.chat import async_create, sync_create
from imr_llm.llm.client import MODES
from imr_llm.prompts import letter_for_prompt, load_prompts

TEXT = corpus_letter("CM16-0213037")


def _reply(mode: str) -> Reply:
    answer = json.dumps(answer_for(TEXT))
    if mode == "tools":
        return Reply(body=chat_completion(tool_args=answer))
    return Reply(body=chat_completion(f"```json\n{answer}\n```" if mode == "md_json" else answer))


@pytest.mark.parametrize(
    ("mode", "schema"),
    [("tools", False), ("json", False), ("json", True), ("md_json", False), ("json_schema", False)],
)
def test_the_request_equals_openai_creates(mode: str, schema: bool) -> None:
    anchors = find_anchors(TEXT)
    prompts = load_prompts()
    with FakeOpenAI([_reply(mode)]) as fake:
        ours = make_client(
            model="m",
            base_url=fake.base_url,
            api_key="sk-one",
            mode=mode,
            json_object_schema=schema,
        )
        result = ours.ask(prompts.system, prompts.user, letter_for_prompt(TEXT), anchors)
        assert result.answer is not None
        # The standard path: instructor.from_openai on openai's own create().
        plain = openai.OpenAI(base_url=fake.base_url, api_key="sk-one", max_retries=0)
        standard = instructor.from_openai(plain, mode=MODES[mode])
        kwargs: Any = ours._kwargs(prompts.system, prompts.user, letter_for_prompt(TEXT), anchors)
        with checking_against(anchors):
            assert standard.chat.completions.create(**kwargs) == result.answer
    first, second = fake.requests
    assert first == second  # the same JSON body
    headers = [{k.lower(): v for k, v in h.items()} for h in fake.headers]
    assert [h["authorization"] for h in headers] == ["Bearer sk-one"] * 2
    assert len({h["user-agent"] for h in headers}) == 1


def test_streaming_is_refused() -> None:
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk", max_retries=0)
    with pytest.raises(UsageError):
        sync_create(client)(model="m", messages=[], stream=True)


def test_the_async_call_posts_the_same_body_and_options() -> None:
    sent: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    extra: dict[str, Any] = {"extra_body": {"seed": 1}, "extra_headers": {"X-Extra": "b"}}

    async def both(client: openai.AsyncOpenAI) -> Any:
        done = await async_create(client)(**sent, **extra)
        await client.chat.completions.create(**sent, **extra)
        return done

    with FakeOpenAI([Reply(body=chat_completion("hi"))]) as fake:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-two", max_retries=0)
        done = asyncio.run(both(client))
    assert done.choices[0].message.content == "hi"
    assert fake.requests[0] == fake.requests[1] == {**sent, "seed": 1}
    headers = [{k.lower(): v for k, v in h.items()} for h in fake.headers]
    assert [h["x-extra"] for h in headers] == ["b", "b"]
    assert [h["authorization"] for h in headers] == ["Bearer sk-two"] * 2
