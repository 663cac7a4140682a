"""The chat-completions call instructor drives: the openai client's own POST, params as given.

openai's ``chat.completions.create`` re-walks every request's params against its typed-dict
declarations before sending them (about 1 ms of CPU a letter, the largest cost of a bulk run
after the HTTP exchange itself). instructor hands it plain JSON-ready dicts, which that walk
leaves as they are, so this posts the same body to the same path through the same client:
authentication, transport retries, timeouts, errors and the parsed ``ChatCompletion`` all
stay openai's. Only the key order of the JSON body differs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import instructor
import openai
from openai.types.chat import ChatCompletion

from imr_llm.errors import UsageError

PATH = "/chat/completions"
_OPTION_NAMES = {
    "extra_headers": "headers",
    "extra_query": "params",
    "extra_body": "extra_json",
    "timeout": "timeout",
}


def _split(params: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The JSON body and openai's request options (what ``create`` would make of them)."""
    if params.get("stream"):
        raise UsageError("imr-llm never streams an answer")
    # create() authenticates the call with the API key only (no admin key).
    options: dict[str, Any] = {"security": {"bearer_auth": True}}
    for name, option in _OPTION_NAMES.items():
        value = params.pop(name, None)
        if value is not None:
            options[option] = value
    return params, options


def sync_create(client: openai.OpenAI) -> Callable[..., ChatCompletion]:
    """``client.chat.completions.create`` without the per-request re-typing."""

    def create(**params: Any) -> ChatCompletion:
        body, options = _split(params)
        return client.post(PATH, cast_to=ChatCompletion, body=body, options=options)

    return create


def async_create(client: openai.AsyncOpenAI) -> Callable[..., Awaitable[ChatCompletion]]:
    """The async twin of :func:`sync_create`."""

    async def create(**params: Any) -> ChatCompletion:
        body, options = _split(params)
        return await client.post(PATH, cast_to=ChatCompletion, body=body, options=options)

    return create


def instructor_for(
    client: openai.OpenAI | openai.AsyncOpenAI, mode: instructor.Mode
) -> instructor.Instructor | instructor.AsyncInstructor:
    """instructor on ``client`` in ``mode``, calling the create functions above."""
    # from_openai checks the client and the mode, and normalizes the mode, as usual.
    mode = instructor.from_openai(client, mode=mode).mode
    if isinstance(client, openai.OpenAI):
        patched = instructor.patch(create=sync_create(client), mode=mode)
        return instructor.Instructor(client=client, create=patched, mode=mode)
    patched = instructor.patch(create=async_create(client), mode=mode)
    return instructor.AsyncInstructor(client=client, create=patched, mode=mode)


__all__ = ["async_create", "instructor_for", "sync_create"]
