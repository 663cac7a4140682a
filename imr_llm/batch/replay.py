"""Run the online extraction code on stored answers: the Batch path's requests and verdicts.

The Batch API answers requests hours later, so instead of re-implementing instructor's
request building, validation and re-ask messages, the batch commands drive the very same
``LlmClient.ask`` (strategy ``letter``) or ``ask_items`` (strategy ``items``) through an
in-process HTTP transport. The transport answers each call with the completions a batch
returned for it; the first request of a call it has no answer for is captured and is exactly
what the online path would send next for that call (its first request, or a re-ask).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar, cast

import httpx2
import pydantic

from imr_llm.anchors.finder import Anchors
from imr_llm.extraction.prompts import letter_for_prompt, load_prompts
from imr_llm.extraction.settings import LlmSettings
from imr_llm.itemwise.calls import Outcome, ask_items
from imr_llm.letters.normalize import Normalized, normalize
from imr_llm.llm import CallResult, LlmClient, Reply, make_client

# Never contacted: every request is answered (or captured) in-process.
_NOWHERE = "http://batch-replay.invalid/v1"

Response = tuple[int, dict[str, Any]]
"""An HTTP status and JSON body, as a batch output or error file holds them."""

Answers = Callable[[str, int], Response | None]
"""The stored answer to call ``call``'s n-th request (n from 1); None: not answered yet."""

Requests = dict[str, dict[str, Any]]
"""Call name ("" for the whole-letter call) -> the body it sends next."""

T = TypeVar("T")
M = TypeVar("M", bound=pydantic.BaseModel)


def unanswered(call: str, n: int) -> Response | None:
    """No stored answers at all: every call's first request is captured."""
    del call, n
    return None


class _Unanswered(Exception):
    """The online path asked for something the batch has not answered yet."""


@dataclass(frozen=True, slots=True)
class Replayed(Generic[T]):
    """What the online path made of the stored answers."""

    value: T
    """The call's result (``CallResult``), or every focused call's replies (``Outcome``)."""
    next_requests: Requests
    """What each unfinished call would send next (empty: every call accepted, out of
    re-asks, or failed)."""


class _Calls:
    """Stands in for the client in ``ask_items``: names each focused call as it is asked.

    The n-th call for a model is ``<name><n>``: item calls come in item order, so ``item2``
    is the third anchored item, and the diagnoses call is ``diagnoses0``.
    """

    def __init__(self, replayer: Replayer) -> None:
        self._replayer = replayer
        self._asked: Counter[str] = Counter()

    def ask_model(
        self, model: type[M], system: str, user: str, *, max_tokens: int | None = None
    ) -> Reply[M]:
        kind = model.__name__.removesuffix("Answer").lower()
        self._replayer.call = f"{kind}{self._asked[kind]}"
        self._asked[kind] += 1
        return self._replayer.client.ask_model(model, system, user, max_tokens=max_tokens)


class Replayer:
    """The online client with stored answers in place of a server (not thread-safe)."""

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self.call = ""
        self._answers: Answers = unanswered
        self._sent: Counter[str] = Counter()
        self._next: Requests = {}
        http = httpx2.Client(transport=httpx2.MockTransport(self._handle))
        self.client = make_client(
            **asdict(settings),
            base_url=_NOWHERE,
            api_key="sk-batch-replay",
            transport_retries=0,
            http_client=http,
        )

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        self._sent[self.call] += 1
        answer = self._answers(self.call, self._sent[self.call])
        if answer is not None:
            status, body = answer
            return httpx2.Response(status, json=body)
        self._next[self.call] = json.loads(request.content)
        raise _Unanswered

    def _begin(self, answers: Answers) -> None:
        self.call, self._answers, self._sent, self._next = "", answers, Counter(), {}

    def letter(
        self, text: str, normalized: Normalized, anchors: Anchors, answers: Answers = unanswered
    ) -> Replayed[CallResult]:
        """Ask as ``extract`` does with strategy ``letter`` (one call, named "")."""
        self._begin(answers)
        # Two letters in one input: the model sees only the first, which the anchors read.
        first = normalized if anchors.letter_end is None else normalize(text[: anchors.letter_end])
        prompts = load_prompts()
        result = self.client.ask(prompts.system, prompts.user, letter_for_prompt(first), anchors)
        return Replayed(result, self._next)

    def items(
        self, text: str, normalized: Normalized, anchors: Anchors, answers: Answers = unanswered
    ) -> Replayed[Outcome]:
        """Ask as ``extract`` does with strategy ``items``: every focused call, in order.

        A call left unanswered fails at once (no transport retries), so the next call is
        asked in the same run: one run captures the next request of every unfinished call.
        """
        self._begin(answers)
        # _Calls has the one method ask_items uses (sync ask_model, calls one at a time).
        outcome = ask_items(cast(LlmClient, _Calls(self)), text, normalized.text, anchors)
        return Replayed(outcome, self._next)
