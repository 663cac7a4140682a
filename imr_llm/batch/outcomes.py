"""One letter in the Batch path: its first requests, then its row or its next requests.

Both strategies run the online code on the stored answers (``replay``) and build the row as
``extract`` does: ``build_row`` from the whole-letter call, ``build_items_row`` from the
focused calls of a letter whose anchors hold every item (``strategy_for``). A letter gets its
row only when every one of its calls is done: accepted, out of re-asks, or failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from imr_llm.anchors.finder import Anchors, find_anchors
from imr_llm.extraction.cache import ResponseCache
from imr_llm.extraction.pipeline import build_row, request_key, strategy_for
from imr_llm.extraction.settings import LlmSettings
from imr_llm.letters.load import Letter
from imr_llm.letters.normalize import Normalized, normalize
from imr_llm.models import Extraction

if TYPE_CHECKING:
    from imr_llm.batch.replay import Answers, Replayer, Requests


@dataclass(frozen=True, slots=True)
class Planned:
    """A letter as the online path sees it before its first call."""

    letter: Letter
    normalized: Normalized
    anchors: Anchors
    strategy: str
    """The one used for this letter: ``items`` falls back to ``letter`` (``strategy_for``)."""
    key: str
    """Its cache key, the one ``extract`` uses: rows are shared with extract and bulk."""


def plan(letter: Letter, settings: LlmSettings) -> Planned:
    """The anchors, strategy and cache key of ``letter``, as ``extract`` finds them."""
    normalized = normalize(letter.text)
    anchors = find_anchors(letter.text, normalized)
    strategy = strategy_for(anchors, settings)
    key = request_key(normalized.text, settings, strategy)
    return Planned(letter, normalized, anchors, strategy, key)


def first_requests(planned: Planned, replayer: Replayer) -> Requests:
    """The first request of each of the letter's calls, as the online path sends them."""
    ask = replayer.items if planned.strategy == "items" else replayer.letter
    return ask(planned.letter.text, planned.normalized, planned.anchors).next_requests


def row_or_requests(
    planned: Planned, replayer: Replayer, answers: Answers, *, path: str, cache: ResponseCache
) -> Extraction | Requests:
    """The letter's row from its stored answers, or the next request of each unfinished call.

    A row without an error goes into ``cache`` with every completion, as ``extract`` stores it.
    """
    text, anchors, warnings = planned.letter.text, planned.anchors, planned.letter.warnings
    model = replayer.settings.model
    if planned.strategy == "items":
        from imr_llm.itemwise.row import build_items_row

        items = replayer.items(text, planned.normalized, anchors, answers)
        if items.next_requests:
            return items.next_requests
        outcome = items.value
        row = build_items_row(text, anchors, outcome, model=model, path=path, warnings=warnings)
        raws = [a.raw for a in outcome.attempts()]
    else:
        whole = replayer.letter(text, planned.normalized, anchors, answers)
        if whole.next_requests:
            return whole.next_requests
        result = whole.value
        row = build_row(text, anchors, result, model=model, path=path, warnings=warnings)
        raws = [a.raw for a in result.attempts]
    if row.error is None:
        cache.put(planned.key, row, raws)
    return row
