"""What the model answers about one disputed item, and about the case's diagnoses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from imr_llm.extraction.answer import LenientModel, mark_if_cut
from imr_llm.models import Category, Reason

MAX_REASONS = 3

# The cross-check an item answer must pass during one call (set by ``checking_item``): the
# problems it finds, as re-ask text. A context variable, as for the whole-letter answer.
ItemCheck = Callable[["ItemAnswer"], list[str]]
_CHECK: ContextVar[ItemCheck | None] = ContextVar("imr_llm_item_check", default=None)


@contextmanager
def checking_item(check: ItemCheck) -> Iterator[None]:
    """Run ``check`` on every ItemAnswer built inside this block; problems fail validation."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)


class ItemAnswer(LenientModel):
    """One disputed item, read from its heading and the reviewer's rationale."""

    # Bounds (characters, or list items) a grammar-enforcing server applies when
    # settings.compact_json is on: a small local model otherwise writes a paragraph where a
    # sentence is asked for.
    GRAMMAR_LIMITS: ClassVar[dict[str, int]] = {
        "treatment": 80,
        "generic_name": 80,
        "subcategory": 60,
        "reasons": MAX_REASONS,
        "summary": 100,
    }

    treatment: str = Field(description='The drug or service, short: "Norco", "MRI lumbar spine".')
    generic_name: str | None = Field(description="The generic drug name; null for services.")
    category: Category
    subcategory: str | None
    medically_necessary: bool = Field(
        description="Did the reviewer find the request medically necessary?"
    )
    reasons: list[Reason] = Field(description="Why, main reason first, at most 3 codes.")
    summary: str = Field(description="One short sentence: why the reviewer decided so.")

    @field_validator("summary", mode="after")
    @classmethod
    def _mark_cut(cls, summary: str) -> str:
        return mark_if_cut(summary, cls.GRAMMAR_LIMITS["summary"])

    @field_validator("reasons", mode="after")
    @classmethod
    def _first_three(cls, reasons: list[str]) -> list[str]:
        # A list longer than the codebook allows is trimmed, not re-asked: order carries rank.
        return list(dict.fromkeys(reasons))[:MAX_REASONS]

    @model_validator(mode="after")
    def _agrees_with_letter(self) -> ItemAnswer:
        check = _CHECK.get()
        if check is not None and (problems := check(self)):
            raise ValueError("; ".join(problems))
        return self


class DiagnosesAnswer(LenientModel):
    """The injured worker's diagnoses, as the case summary names them."""

    # At most 8 names of at most 80 characters ("name[]": each element's length).
    GRAMMAR_LIMITS: ClassVar[dict[str, int]] = {"diagnoses": 8, "diagnoses[]": 80}

    diagnoses: list[str] = Field(description="Short diagnosis names, as written.")


__all__ = ["MAX_REASONS", "DiagnosesAnswer", "ItemAnswer", "checking_item"]
