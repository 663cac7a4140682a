"""Tool-call answers that agree with a letter's anchors, for fake servers that must not cause
re-asks; and distinct letters made from one corpus letter by changing its case number.

This is plumbing for bulk tests and the bulk benchmark, not model behaviour: semantic
answers come from cassettes recorded against a real model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fake_openai import Reply, chat_completion

from imr_llm.anchors.finder import find_anchors
from imr_llm.extraction.answer import Answer, AnswerItem

CASE_NUMBER = re.compile(r"CM\d{2}-\d{7}")


def answer_for(text: str) -> dict[str, Any]:
    """An answer holding exactly what the anchors found (every schema key present)."""
    anchors = find_anchors(text)
    values = anchors.values()
    empty: dict[str, Any] = {"diagnoses": [], "reasons": []}
    answer = {name: values.get(name, empty.get(name)) for name in Answer.model_fields}
    answer["reviewer"] = {
        "licensure_states": values.get("reviewer.licensure_states", []),
        "specialties": values.get("reviewer.specialties", []),
    }
    answer["patient"] = {"age": values.get("patient.age"), "sex": values.get("patient.sex")}
    answer["items"] = [
        {name: item.get(name, empty.get(name)) for name in AnswerItem.model_fields}
        for item in anchors.items()
    ]
    return answer


def case_number_of(body: dict[str, Any]) -> str | None:
    """The case number in a chat request's user message (the system prompt has an example)."""
    for message in body.get("messages", []):
        if message.get("role") == "user" and (m := CASE_NUMBER.search(str(message["content"]))):
            return m[0]
    return None


def variants(text: str, count: int, *, start: int = 0) -> Iterator[tuple[str, str]]:
    """``count`` distinct letters: ``text`` with case numbers CM99-0000000, CM99-0000001, ..."""
    found = CASE_NUMBER.search(text)
    assert found, "the letter needs a case number"
    for n in range(start, start + count):
        case = f"CM99-{n:07d}"
        yield case, text.replace(found[0], case)


def letter_files(folder: Path, text: str, count: int) -> dict[str, str]:
    """``count`` variants of ``text`` written to ``folder`` as <case number>.txt, by case number."""
    folder.mkdir(parents=True, exist_ok=True)
    letters = dict(variants(text, count))
    for case, variant in letters.items():
        (folder / f"{case}.txt").write_text(variant, encoding="utf-8")
    return letters


def answering(
    texts: dict[str, str],
    *,
    delay: float = 0.0,
    fail: Callable[[str], Reply | None] = lambda c: None,
) -> Callable[[dict[str, Any]], Reply]:
    """A FakeOpenAI script that answers each letter (by case number) from its anchors."""
    answers: dict[str, dict[str, Any]] = {}

    def reply(body: dict[str, Any]) -> Reply:
        case = case_number_of(body) or ""
        if (failure := fail(case)) is not None:
            return failure
        if case not in answers:
            answers[case] = answer_for(texts[case])
        completion = chat_completion(
            tool_args=answers[case], prompt_tokens=1000, completion_tokens=200
        )
        return Reply(body=completion, delay=delay)

    return reply
