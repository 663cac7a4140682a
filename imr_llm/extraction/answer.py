"""The record the LLM is asked to return, with a validator hook for the anchors check.

Long verbatim passages (rationales, guideline lines) are not requested: the anchors already
hold them, and asking a model to copy them costs tokens and invites drift.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from imr_llm.models import HEADER_FIELDS, Category, Decision, Priority, Reason, Sex

# The check an answer must pass during one extraction (``verify.checking_against`` sets it):
# the blocking problems it finds, as re-ask text. A context variable (one value per thread
# and per asyncio task) rather than instructor's ``context=``, which would also switch on
# Jinja rendering of every message on every attempt.
Check = Callable[["Answer"], list[str]]
_CHECK: ContextVar[Check | None] = ContextVar("imr_llm_check", default=None)

# How many conflicts one re-ask message quotes; more only repeats the point.
_MAX_QUOTED = 6


@contextmanager
def validating_with(check: Check) -> Iterator[None]:
    """Run ``check`` on every Answer built inside this block; its problems fail validation."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)


class LenientModel(BaseModel):
    """Accepts raw control characters inside JSON strings, as some local servers emit them.

    Its schema is closed (``additionalProperties: false``) because hosted strict modes
    (OpenAI structured outputs, strict function calling) refuse an open object, while
    parsing still ignores stray keys: a local model's extra key is not worth a re-ask.
    """

    model_config = ConfigDict(
        extra="ignore", use_enum_values=True, json_schema_extra={"additionalProperties": False}
    )

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Any:
        try:
            json.loads(json_data)
        except (json.JSONDecodeError, TypeError):
            # Unparseable even leniently: pydantic reports the syntax error itself.
            with contextlib.suppress(json.JSONDecodeError, TypeError):
                json_data = json.dumps(json.loads(json_data, strict=False))
        return super().model_validate_json(json_data, **kwargs)


_SENTENCE_END = (".", "!", "?", "\u2026")
# A token that would overrun the bound cannot be written, so a model cut short by the grammar
# may stop a few characters before it (99 of 100 seen): one token's length of slack.
_CUT_SLACK = 12


def mark_if_cut(text: str, limit: int) -> str:
    """``text`` stripped; if it ran to the grammar's bound ``limit`` mid-sentence, marked so.

    A grammar-enforcing server stops a string at ``limit`` characters wherever the model is,
    often inside a word. Such a text keeps its whole words and ends in "\u2026", so a reader
    sees it was cut. A shorter text, or one that ends a sentence, is left as written.
    """
    kept = text.strip()
    if len(text) < limit - _CUT_SLACK or not kept or kept.endswith(_SENTENCE_END):
        return kept
    if not text.endswith(" ") and " " in kept:
        kept = kept.rsplit(" ", 1)[0]  # the last word was (or may have been) cut short
    return kept.rstrip(" ,;:-") + "\u2026"


class AnswerItem(LenientModel):
    """One disputed item."""

    # Bounds a grammar-enforcing server applies when settings.compact_json is on (see
    # llm.client._format_body): without them a small model can write one string until
    # max_tokens. Request headings run to about 450 characters in the corpus.
    GRAMMAR_LIMITS: ClassVar[dict[str, int]] = {
        "request": 600,
        "treatment": 80,
        "generic_name": 80,
        "subcategory": 60,
        "strength": 40,
        "reasons": 3,
        "summary": 200,
    }

    request: str = Field(description='Item heading before ": Upheld" / ": Overturned".')
    decision: Decision
    treatment: str | None = Field(description='Drug or service, e.g. "Norco".')
    generic_name: str | None
    category: Category | None
    subcategory: str | None
    strength: str | None
    quantity: float | None
    reasons: list[Reason]
    summary: str | None = Field(description="One sentence.")

    @field_validator("summary", mode="after")
    @classmethod
    def _mark_cut(cls, summary: str | None) -> str | None:
        return None if summary is None else mark_if_cut(summary, cls.GRAMMAR_LIMITS["summary"])


class AnswerReviewer(LenientModel):
    GRAMMAR_LIMITS: ClassVar[dict[str, int]] = {
        "licensure_states": 10,
        "licensure_states[]": 20,
        "specialties": 6,
        "specialties[]": 60,
    }

    licensure_states: list[str] = Field(description='Two-letter codes, e.g. "CA".')
    specialties: list[str]


class AnswerPatient(LenientModel):
    age: int | None
    sex: Sex | None


class Answer(LenientModel):
    """One IMR determination letter (dates as YYYY-MM-DD).

    Every field is required (null allowed): grammar-constrained and strict decoders then
    emit every key instead of stopping after the first few.
    """

    GRAMMAR_LIMITS: ClassVar[dict[str, int]] = {
        # The header's free-text fields (priority is an enum): dates and the case number.
        **dict.fromkeys((f for f in HEADER_FIELDS if f != "priority"), 30),
        "diagnoses": 8,
        "diagnoses[]": 80,
    }

    case_number: str | None
    date_assigned: str | None
    decision_date: str | None
    ur_denial_date: str | None
    date_of_injury: str | None
    application_received: str | None
    priority: Priority | None
    reviewer: AnswerReviewer
    patient: AnswerPatient
    diagnoses: list[str]
    items: list[AnswerItem]

    @model_validator(mode="after")
    def _agrees_with_letter(self) -> Answer:
        check = _CHECK.get()
        if check is not None and (problems := check(self)):
            raise ValueError("; ".join(problems[:_MAX_QUOTED]))
        return self
