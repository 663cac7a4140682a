"""The output row of an ``items`` extraction, and when the strategy applies at all."""

from __future__ import annotations

from collections.abc import Sequence

from imr_llm.anchors.finder import Anchors
from imr_llm.anchors.record import source_info
from imr_llm.extraction.cache import schema_hash
from imr_llm.extraction.prompts import load_prompts
from imr_llm.itemwise.answers import DiagnosesAnswer, ItemAnswer
from imr_llm.itemwise.calls import Outcome
from imr_llm.itemwise.merge import merge_items
from imr_llm.models import ErrorInfo, Extraction, LlmInfo, Usage

# The anchors' own word that the item headings and the rationale blocks disagree in number.
_COUNT_PROBLEM = "item heading(s) but"


def items_apply(anchors: Anchors) -> bool:
    """True when the anchors hold every item, so the per-item calls can cover the letter.

    Older layouts, letters without anchored items, and letters whose item headings and
    rationale blocks disagree in number go to the whole-letter call instead.
    """
    if anchors.format != "current" or not anchors.items():
        return False
    return not any(_COUNT_PROBLEM in problem for problem in anchors.problems)


def items_schema_hash() -> str:
    """Both focused schemas, as one part of the cache key."""
    return schema_hash(ItemAnswer) + schema_hash(DiagnosesAnswer)


def build_items_row(
    text: str,
    anchors: Anchors,
    outcome: Outcome,
    *,
    model: str,
    path: str | None = None,
    warnings: Sequence[str] = (),
) -> Extraction:
    """The output row from the anchors and every focused call's attempts."""
    merged = merge_items(text, anchors, outcome)
    attempts = outcome.attempts()
    errors = outcome.errors()
    error = errors[0] if merged.status == "failed" and errors else None
    notes = [*warnings, *anchors.problems]
    if error is None:
        # A failed call is used (its best attempt, or nothing) but never silently.
        notes += [f"{e.kind}: {e}" for e in errors]
    return Extraction(
        source=source_info(text, path),
        status=merged.status,
        record=merged.record,
        evidence=merged.evidence,
        discrepancies=merged.discrepancies,
        llm=LlmInfo(
            model=model,
            prompt_version=load_prompts().version,
            attempts=len(attempts),
            cached=False,
            usage=Usage(
                prompt_tokens=sum(a.prompt_tokens for a in attempts),
                completion_tokens=sum(a.completion_tokens for a in attempts),
            ),
        ),
        error=ErrorInfo(type=error.kind, message=str(error)) if error else None,
        warnings=notes,
    )


__all__ = ["build_items_row", "items_apply", "items_schema_hash"]
