"""extract() against the hand-written fake server: retries, merge, cache, failures.

Model behaviour is tested on recorded traffic in test_cassettes.py; here the fake server
scripts HTTP-level situations a real endpoint cannot be made to produce on demand.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import corpus_letter
from fake_openai import FakeOpenAI, Reply, chat_completion, full_answer

from imr_llm.extraction.cache import Cache
from imr_llm.extraction.pipeline import aextract, extract
from imr_llm.llm import LlmClient, make_client

LETTER = corpus_letter("001_e6b0d48aa7f5108d")  # Norco overturned; Zoloft, Baclofen upheld
TRUE_ITEMS = [
    {"request": "Norco 10/325mg #160", "decision": "overturned", "quantity": 160},
    {"request": "Zoloft 100mg #60", "decision": "upheld", "quantity": 60},
    {"request": "Baclofen 20mg #90", "decision": "upheld", "quantity": 90},
]


def _answer(items: list[dict[str, Any]] | None = None, **letter: Any) -> dict[str, Any]:
    rows = [
        {
            **item,
            "treatment": item["request"].split()[0],
            "category": "Pharmaceuticals",
            "summary": f"{item['request'].split()[0]} was {item['decision']}.",
        }
        for item in (TRUE_ITEMS if items is None else items)
    ]
    letter = {"patient": {"age": 43, "sex": "male"}, "diagnoses": ["lumbar strain"], **letter}
    return full_answer(rows, **letter)


def _reply(answer: dict[str, Any], tokens: int = 50) -> Reply:
    return Reply(
        body=chat_completion(tool_args=answer, prompt_tokens=1000, completion_tokens=tokens)
    )


def _client(fake: FakeOpenAI, *, retries: int = 2, reasks: int = 2, **kw: Any) -> LlmClient:
    return make_client(
        model="fake",
        base_url=fake.base_url,
        api_key="sk-test",
        transport_retries=retries,
        max_reasks=reasks,
        timeout=5,
        **kw,
    )


def test_agreeing_answer_is_ok_with_agreed_evidence() -> None:
    with FakeOpenAI([_reply(_answer())]) as fake:
        row = extract(LETTER, client=_client(fake), cache=None)
    assert fake.calls == 1
    assert row.status == "ok"
    assert row.llm is not None and row.llm.attempts == 1 and not row.llm.cached
    assert row.llm.usage.prompt_tokens == 1000 and row.llm.usage.completion_tokens == 50
    assert row.record is not None
    assert row.record.items[2].summary == "Baclofen was upheld."
    # The drug lexicon anchors treatment and category; the LLM agreed on the category.
    assert [i.treatment for i in row.record.items] == ["Norco", "Zoloft", "baclofen"]
    statuses = {e.field: e.status for e in row.evidence}
    assert statuses["items[1].decision"] == "agreed"
    assert statuses["items[0].category"] == "agreed"
    assert statuses["items[0].summary"] == "llm_only"
    assert statuses["items[0].rationale"] == "anchor_only"
    assert row.discrepancies == []


def test_conflict_is_reasked_with_a_message_quoting_the_letter() -> None:
    wrong = [dict(TRUE_ITEMS[0]), {**TRUE_ITEMS[1], "decision": "overturned"}, TRUE_ITEMS[2]]
    with FakeOpenAI([_reply(_answer(wrong)), _reply(_answer())]) as fake:
        row = extract(LETTER, client=_client(fake), cache=None)
    assert fake.calls == 2
    reask = str(fake.requests[1]["messages"])
    assert "the letter says 'Zoloft 100mg #60: Upheld' but you returned decision" in reask
    assert row.status == "ok"
    assert row.llm is not None and row.llm.attempts == 2
    assert row.llm.usage.prompt_tokens == 2000  # every attempt counts, the failed one too


def test_when_reasks_run_out_the_anchors_win() -> None:
    wrong = [{**item, "decision": "overturned"} for item in TRUE_ITEMS]
    with FakeOpenAI([_reply(_answer(wrong))]) as fake:
        row = extract(LETTER, client=_client(fake, reasks=2), cache=None)
    assert fake.calls == 3
    assert row.status == "needs_review"
    assert row.record is not None
    assert [i.decision for i in row.record.items] == ["overturned", "upheld", "upheld"]
    fixed = {d.field: d for d in row.discrepancies}
    assert fixed["items[1].decision"].resolution == "anchor"
    assert fixed["items[1].decision"].llm == "overturned"
    assert {e.field: e.status for e in row.evidence}["items[1].decision"] == "corrected"
    assert row.record.items[0].summary == "Norco was overturned."  # LLM-only, best try


def test_server_errors_are_retried_by_the_client_only() -> None:
    with FakeOpenAI([Reply(status=500, headers={"retry-after-ms": "1"})]) as fake:
        row = extract(LETTER, client=_client(fake, retries=2, reasks=2), cache=None)
    assert fake.calls == 3  # one try + two transport retries; no re-ask on top
    assert row.status == "failed"
    assert row.error is not None and row.error.type == "LlmUnavailableError"
    assert row.record is not None and len(row.record.items) == 3  # the anchors survive


def test_transport_retry_then_success_makes_two_calls() -> None:
    script = [Reply(status=503, headers={"retry-after-ms": "1"}), _reply(_answer())]
    with FakeOpenAI(script) as fake:
        row = extract(LETTER, client=_client(fake), cache=None)
    assert fake.calls == 2
    assert row.status == "ok"
    assert row.llm is not None and row.llm.attempts == 1


def test_malformed_body_is_not_reasked() -> None:
    with FakeOpenAI([Reply(body="{not json")]) as fake:
        row = extract(LETTER, client=_client(fake, retries=0, reasks=2), cache=None)
    assert fake.calls == 1
    assert row.status == "failed"
    assert row.error is not None


def test_unreachable_endpoint_fails_with_the_anchor_record() -> None:
    client = make_client(
        model="m", base_url="http://127.0.0.1:9/v1", api_key="k", transport_retries=0, timeout=2
    )
    row = extract(LETTER, client=client, cache=None)
    assert row.status == "failed"
    assert row.error is not None and row.error.type == "LlmUnavailableError"
    assert row.record is not None and row.record.items[0].request == "Norco 10/325mg #160"


def test_raise_on_error_is_opt_in() -> None:
    client = make_client(
        model="m", base_url="http://127.0.0.1:9/v1", api_key="k", transport_retries=0, timeout=2
    )
    with pytest.raises(Exception, match="Connection"):
        extract(LETTER, client=client, cache=None, raise_on_error=True)


def test_not_imr_text_makes_no_call() -> None:
    with FakeOpenAI([_reply(_answer())]) as fake:
        row = extract("Progress note: knee pain, ice and rest.", client=_client(fake), cache=None)
    assert fake.calls == 0
    assert row.status == "not_imr"


def test_second_extract_is_a_cache_hit_with_no_http_call(tmp_path: Path) -> None:
    with FakeOpenAI([_reply(_answer())]) as fake, Cache(tmp_path / "c.sqlite") as cache:
        first = extract(LETTER, client=_client(fake), cache=cache, path="a.txt")
        second = extract(LETTER, client=_client(fake), cache=cache, path="b.txt")
    assert fake.calls == 1
    assert first.llm is not None and not first.llm.cached
    assert second.llm is not None and second.llm.cached
    assert second.source.path == "b.txt"
    assert second.record == first.record


def test_failures_are_not_cached(tmp_path: Path) -> None:
    script = [Reply(status=500), _reply(_answer())]
    with FakeOpenAI(script) as fake, Cache(tmp_path / "c.sqlite") as cache:
        failed = extract(LETTER, client=_client(fake, retries=0), cache=cache)
        retried = extract(LETTER, client=_client(fake, retries=0), cache=cache)
    assert (failed.status, retried.status) == ("failed", "ok")
    assert fake.calls == 2


def test_extra_invented_item_is_dropped_and_flagged() -> None:
    invented = [*TRUE_ITEMS, {"request": "Oxycontin 80mg #90", "decision": "overturned"}]
    with FakeOpenAI([_reply(_answer(invented))]) as fake:
        row = extract(LETTER, client=_client(fake, reasks=0), cache=None)
    assert row.record is not None and len(row.record.items) == 3
    assert row.status == "needs_review"
    assert any(d.field == "items" for d in row.discrepancies)


def test_raw_control_characters_in_strings_are_accepted() -> None:
    items = [{**i, "summary": "line one\nline two"} for i in TRUE_ITEMS]
    # json.dumps escapes the newline; undo that so the answer carries a raw control char.
    raw = json.dumps(full_answer(items)).replace("\\n", "\n")
    assert "\n" in raw
    with FakeOpenAI([Reply(body=chat_completion(tool_args=raw))]) as fake:
        row = extract(LETTER, client=_client(fake), cache=None)
    assert fake.calls == 1
    assert row.record is not None and row.record.items[0].summary == "line one\nline two"


def test_truncated_answer_is_not_reasked() -> None:
    cut = Reply(
        body=chat_completion(tool_args='{"items": [{"request": "Nor', completion_tokens=1500)
    )
    with FakeOpenAI([cut]) as fake:
        row = extract(LETTER, client=_client(fake), cache=None)
    assert fake.calls == 1
    assert row.status == "failed"
    assert row.error is not None and "max_tokens" in row.error.message


def test_aextract_matches_extract() -> None:
    with FakeOpenAI([_reply(_answer())]) as fake:
        row = asyncio.run(aextract(LETTER, client=_client(fake), cache=None))
    assert row.status == "ok"
    assert row.record is not None and row.record.items[2].summary == "Baclofen was upheld."


def test_letter_with_template_braces_reaches_the_model_verbatim() -> None:
    letter = LETTER.replace("CLINICAL CASE SUMMARY", "CLINICAL CASE SUMMARY {{ x }} {# y")
    with FakeOpenAI([_reply(_answer())]) as fake:
        extract(letter, client=_client(fake), cache=None)
    user = fake.requests[0]["messages"][1]["content"]
    assert "{{ x }} {# y" in user
