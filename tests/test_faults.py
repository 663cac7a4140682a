"""Fault injection: every fault the fake server can script, through extract() and aextract().

Each row of the table says how many HTTP calls the retry policy allows (transport retries
belong to the openai client, re-asks to instructor, nothing retries twice), which output
row comes back, and how long it may take at most. The anchors-only record survives every
fault. RELIABILITY.md points here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import corpus_letter
from fake_openai import FakeOpenAI, Reply, chat_completion, full_answer

from imr_llm.anchors.finder import find_anchors
from imr_llm.extraction.pipeline import aextract, extract
from imr_llm.llm import LlmClient, make_client
from imr_llm.models import Extraction

LETTER = corpus_letter("001_e6b0d48aa7f5108d")  # Norco overturned; Zoloft, Baclofen upheld
TRUE_ITEMS = [
    {"request": "Norco 10/325mg #160", "decision": "overturned", "quantity": 160},
    {"request": "Zoloft 100mg #60", "decision": "upheld", "quantity": 60},
    {"request": "Baclofen 20mg #90", "decision": "upheld", "quantity": 90},
]
FAST = {"retry-after-ms": "1"}  # the openai client honours it: no back-off sleep in tests


def _answer(items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return full_answer(
        [{**i, "summary": "s"} for i in (TRUE_ITEMS if items is None else items)],
        patient={"age": 43, "sex": "male"},
    )


def _ok(items: list[dict[str, Any]] | None = None, **kw: Any) -> Reply:
    return Reply(body=chat_completion(tool_args=_answer(items), **kw))


def _no_choices() -> dict[str, Any]:
    body = chat_completion("x")
    body["choices"] = []
    return body


def _without_choices() -> dict[str, Any]:
    body = chat_completion("x")
    del body["choices"]
    return body


MAYBE = [{**TRUE_ITEMS[0], "decision": "maybe"}, *TRUE_ITEMS[1:]]
WRONG = [{**i, "decision": "overturned"} for i in TRUE_ITEMS]
INVENTED = [*TRUE_ITEMS, {"request": "Oxycontin 80mg #90", "decision": "overturned"}]
CUT = '{"items": [{"request": "Nor'


@dataclass(frozen=True)
class Fault:
    """One scripted situation and what the policy promises for it."""

    name: str
    script: list[Reply]
    calls: int
    status: str
    error: str | None = None
    attempts: int | None = None  # parsed-or-not answers recorded (None: don't check)
    retries: int = 2
    reasks: int = 2
    timeout: float = 5.0
    max_seconds: float = 5.0
    message: str = ""  # a substring of error.message, or of the warnings when no error
    discrepancy: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


FAULTS = [
    # --- transport: the openai client retries, instructor never sees the fault ---
    Fault("429 every time", [Reply(429, headers=FAST)], 3, "failed", "LlmUnavailableError", 0,
          message="RateLimitError"),
    Fault("429 then ok", [Reply(429, headers=FAST), _ok()], 2, "ok", attempts=1),
    Fault("500 every time", [Reply(500, headers=FAST)], 3, "failed", "LlmUnavailableError", 0,
          message="InternalServerError"),
    Fault("502 html page", [Reply(502, body="<html>Bad Gateway</html>", headers=FAST)], 3,
          "failed", "LlmUnavailableError", 0),
    Fault("503 then ok", [Reply(503, headers=FAST), _ok()], 2, "ok", attempts=1),
    Fault("500 with retries=0", [Reply(500)], 1, "failed", "LlmUnavailableError", 0, retries=0),
    Fault("400 is not retried", [Reply(400)], 1, "failed", "LlmUnavailableError", 0,
          message="BadRequestError"),
    Fault("401 is not retried", [Reply(401)], 1, "failed", "LlmUnavailableError", 0,
          message="AuthenticationError"),
    Fault("hang past the timeout", [Reply(delay=30)], 2, "failed", "LlmUnavailableError", 0,
          retries=1, timeout=0.3, max_seconds=4, message="APITimeoutError"),
    Fault("slow but in time", [Reply(body=_ok().body, delay=0.3)], 1, "ok", attempts=1,
          timeout=3),
    # No response, so no Retry-After: the client's own back-off (~0.5 s) runs once.
    Fault("reset connection", [Reply(drop=True)], 2, "failed", "LlmUnavailableError", 0,
          retries=1, message="APIConnectionError"),
    Fault("reset then ok", [Reply(drop=True), _ok()], 2, "ok", attempts=1),
    # --- a 200 whose body is not a usable completion: not retried, not re-asked ---
    Fault("malformed JSON body", [Reply(body="{not json")], 1, "failed", "LlmOutputError", 0),
    Fault("JSON list body", [Reply(body="[1, 2, 3]")], 1, "failed", "LlmOutputError", 1),
    Fault("empty choices", [Reply(body=_no_choices())], 1, "failed", "LlmOutputError", 1),
    Fault("no choices key", [Reply(body=_without_choices())], 1, "failed", "LlmOutputError", 1),
    Fault("text instead of a tool call", [Reply(body=chat_completion("Sure!"))], 1, "failed",
          "LlmOutputError", 1),
    # --- truncation: re-asking would be cut off again, so it is not re-asked ---
    Fault("truncated, finish_reason length",
          [Reply(body=chat_completion(tool_args=CUT, finish_reason="length"))], 1, "failed",
          "LlmOutputError", 1, message="max_tokens"),
    Fault("truncated, completion_tokens = max_tokens",
          [Reply(body=chat_completion(tool_args=CUT, completion_tokens=1500))], 1, "failed",
          "LlmOutputError", 1, message="max_tokens"),
    Fault("cut off but parseable", [_ok(finish_reason="length")], 1, "needs_review", None, 1,
          message="cut off at max_tokens"),
    # --- answers that fail validation: re-asked by instructor, bounded by max_reasks ---
    Fault("schema-invalid decision", [_ok(MAYBE)], 3, "failed", "LlmOutputError", 3),
    Fault("schema-invalid, reasks=0", [_ok(MAYBE)], 1, "failed", "LlmOutputError", 1, reasks=0),
    Fault("schema-invalid then valid", [_ok(MAYBE), _ok()], 2, "ok", attempts=2),
    Fault("arguments not JSON", [Reply(body=chat_completion(tool_args="no json here"))], 3,
          "failed", "LlmOutputError", 3),
    Fault("wrong decisions every time", [_ok(WRONG)], 3, "needs_review", None, 3,
          discrepancy="items[1].decision"),
    Fault("extra invented item every time", [_ok(INVENTED)], 2, "needs_review", None, 2,
          reasks=1, discrepancy="items"),
    Fault("conflict, then the re-ask hits a 500", [_ok(WRONG), Reply(500)], 2, "needs_review",
          None, 1, retries=0, message="LlmUnavailableError", discrepancy="items[1].decision"),
]  # fmt: skip

Run = Callable[[str, LlmClient], Extraction]


def _sync(text: str, client: LlmClient) -> Extraction:
    return extract(text, client=client, cache=None)


def _async(text: str, client: LlmClient) -> Extraction:
    return asyncio.run(aextract(text, client=client, cache=None))


def _client(fake: FakeOpenAI, fault: Fault) -> LlmClient:
    return make_client(
        model="fake",
        base_url=fake.base_url,
        api_key="sk-test",
        transport_retries=fault.retries,
        max_reasks=fault.reasks,
        timeout=fault.timeout,
    )


def _check_anchors_kept(row: Extraction) -> None:
    """Whatever happened, the letter's own facts are in the row, taken from the anchors."""
    assert row.record is not None
    assert [i.request for i in row.record.items] == [i["request"] for i in TRUE_ITEMS]
    assert [i.decision for i in row.record.items] == [i["decision"] for i in TRUE_ITEMS]
    assert row.record.patient.age == 43


@pytest.mark.parametrize("run", [_sync, _async], ids=["sync", "async"])
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault(fault: Fault, run: Run) -> None:
    with FakeOpenAI(fault.script) as fake:
        started = time.monotonic()
        row = run(LETTER, _client(fake, fault))
        elapsed = time.monotonic() - started
    assert fake.calls == fault.calls
    assert elapsed < fault.max_seconds
    assert row.status == fault.status
    assert (row.error.type if row.error else None) == fault.error
    if fault.attempts is not None:
        assert row.llm is not None and row.llm.attempts == fault.attempts
    if fault.message:
        assert fault.message in (row.error.message if row.error else " ".join(row.warnings))
    if fault.discrepancy:
        assert fault.discrepancy in {d.field for d in row.discrepancies}
    _check_anchors_kept(row)


def test_retry_after_seconds_is_honoured() -> None:
    stamps: list[float] = []
    replies = [Reply(429, headers={"Retry-After": "1"}), _ok()]

    def script(body: dict[str, Any]) -> Reply:
        stamps.append(time.monotonic())
        return replies[len(stamps) - 1]

    fault = Fault("Retry-After: 1", [], 2, "ok", retries=1)
    with FakeOpenAI(script) as fake:
        row = extract(LETTER, client=_client(fake, fault), cache=None)
    assert fake.calls == 2
    assert row.status == "ok"
    assert 0.95 <= stamps[1] - stamps[0] < 3


def test_every_fault_leaves_the_anchor_record_of_a_failed_row_intact() -> None:
    """A failed row's record is exactly the anchors-only record, not a partial LLM merge."""
    anchors = find_anchors(LETTER)
    fault = Fault("500", [Reply(500)], 1, "failed", retries=0)
    with FakeOpenAI(fault.script) as fake:
        row = extract(LETTER, client=_client(fake, fault), cache=None)
    assert row.record is not None
    assert {e.field for e in row.evidence} == {a.field for a in anchors.anchors}
    assert all(e.status == "anchor_only" for e in row.evidence)
