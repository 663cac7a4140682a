"""Run the online extraction code on stored answers: the Batch path's requests and verdicts.

The Batch API answers requests hours later, so instead of re-implementing instructor's
request building, validation and re-ask messages, the batch commands drive the very same
``LlmClient.ask`` through an in-process HTTP transport. The transport answers with the
completions a batch returned; the first request it has no answer for is captured and is
exactly what the online path would send next (the first request, or a re-ask).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx2

from imr_llm.anchors.finder import Anchors
from imr_llm.extraction.prompts import letter_for_prompt, load_prompts
from imr_llm.extraction.settings import LlmSettings
from imr_llm.llm import CallResult, make_client

# Never contacted: every request is answered (or captured) in-process.
_NOWHERE = "http://batch-replay.invalid/v1"

Response = tuple[int, dict[str, Any]]
"""An HTTP status and JSON body, as a batch output or error file holds them."""


class _Unanswered(Exception):
    """The online path asked for something the batch has not answered yet."""


@dataclass(frozen=True, slots=True)
class Replayed:
    """What the online path made of the stored answers."""

    result: CallResult
    next_request: dict[str, Any] | None
    """The body it would send next (None: it is done, accepted or out of re-asks)."""


class Replayer:
    """The online client with stored answers in place of a server (not thread-safe)."""

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self._script: list[Response] = []
        self._next: dict[str, Any] | None = None
        http = httpx2.Client(transport=httpx2.MockTransport(self._handle))
        self._client = make_client(
            model=settings.model,
            mode=settings.mode,
            json_object_schema=settings.json_object_schema,
            max_tokens=settings.max_tokens,
            max_reasks=settings.max_reasks,
            base_url=_NOWHERE,
            api_key="sk-batch-replay",
            transport_retries=0,
            http_client=http,
        )

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        if self._script:
            status, body = self._script.pop(0)
            return httpx2.Response(status, json=body)
        self._next = json.loads(request.content)
        raise _Unanswered

    def run(self, text: str, anchors: Anchors, responses: Sequence[Response]) -> Replayed:
        """Ask as ``extract`` does, answered by ``responses`` in order."""
        self._script = list(responses)
        self._next = None
        prompts = load_prompts()
        result = self._client.ask(prompts.system, prompts.user, letter_for_prompt(text), anchors)
        return Replayed(result, self._next)

    def first_request(self, text: str, anchors: Anchors) -> dict[str, Any]:
        """The exact body of the online path's first request for this letter."""
        body = self.run(text, anchors, ()).next_request
        assert body is not None  # with no answers, the first request is always unanswered
        return body
