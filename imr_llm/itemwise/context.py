"""What each focused call shows the model: texts built from the anchors and the lexicon (pure).

The system prompts are the same for every item of every letter, so a server that caches the
prompt prefix (llama.cpp does) reads them once; only the item's own lines are new per call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from imr_llm.anchors.finder import Anchors
from imr_llm.anchors.header import summary_bounds
from imr_llm.extraction.prompts import read_prompt, render
from imr_llm.treatment.taxonomy import nearest, taxonomy_text

# A rationale longer than this is cut to its cue sentences and its end, where reviewers
# apply the guideline to the patient and conclude. Where reason cues were found, their codes
# stand (the model only confirms them), so the model needs less of the text: the cue
# sentences and the conclusion. Prompt reading is half of a call's time on a CPU.
RATIONALE_CHARS = 1200
TAIL_CHARS = 750
CUED_RATIONALE_CHARS = 800
CUED_TAIL_CHARS = 450
SUMMARY_CHARS = 900
EXAMPLES = 4
_SENTENCE = re.compile(r"[^.!?]*(?:[.!?]+|$)")
_DIAGNOSIS = re.compile(r"diagnos[ie]s|diagnosed", re.I)


@dataclass(frozen=True, slots=True)
class ItemPrompt:
    """One item's call: the texts sent, and the anchored facts the answer is checked against."""

    index: int
    request: str
    decision: str
    system: str
    user: str


def _codebook(side: str) -> str:
    rows = [line.split("\t") for line in read_prompt("reasons.txt").splitlines() if line]
    return "\n".join(f"  {code}: {text}" for code, kind, text in rows if kind == side)


@cache
def item_system() -> str:
    """The constant system prompt of every item call."""
    taxonomy = "\n".join(f"  {line}" for line in taxonomy_text().splitlines())
    return render(
        read_prompt("item_system.txt"),
        taxonomy=taxonomy,
        denial_codes=_codebook("denied"),
        approval_codes=_codebook("approved"),
    )


@cache
def diagnoses_system() -> str:
    """The constant system prompt of the diagnoses call."""
    return render(read_prompt("diagnoses_system.txt"))


def _cue_sentences(text: str, anchors: Anchors, i: int) -> list[tuple[str, str]]:
    """(code, sentence) for each reason cue the anchors found in item ``i``'s rationale."""
    prefix = f"items[{i}].reasons["
    return [
        (str(a.value), " ".join(text[a.start : a.end].split()))
        for a in anchors.anchors
        if a.field.startswith(prefix)
    ]


def _excerpt(rationale: str, keep: list[str]) -> str:
    """The rationale, or when long: the sentences in ``keep`` then its last part."""
    if keep:
        limit, tail_chars = CUED_RATIONALE_CHARS, CUED_TAIL_CHARS
    else:
        limit, tail_chars = RATIONALE_CHARS, TAIL_CHARS
    if len(rationale) <= limit:
        return rationale
    tail = rationale[-tail_chars:]
    tail = tail[tail.find(" ") + 1 :]
    head = [s for s in keep if s not in tail]
    return " ".join(["...", *head, "...", tail]) if head else f"... {tail}"


def _examples(request: str) -> str:
    found = nearest(request, EXAMPLES)
    if not found:
        return ""
    return "Similar entries in our treatment table:\n" + "\n".join(ex.line() for ex in found)


def _cues(cues: list[tuple[str, str]]) -> str:
    # Codes only: each cue's sentence is in the rationale shown below (the excerpt keeps it),
    # and quoting it again cost a quarter of the item's prompt.
    if not cues:
        return ""
    codes = ", ".join(dict.fromkeys(code for code, _ in cues))
    return f"Reason codes our rules read in the rationale (confirm, add or reorder): {codes}\n"


def item_prompts(text: str, anchors: Anchors) -> list[ItemPrompt]:
    """One prompt per anchored item, in letter order."""
    out = []
    for i, item in enumerate(anchors.items()):
        request, rationale = str(item.get("request", "")), str(item.get("rationale", ""))
        cues = _cue_sentences(text, anchors, i)
        examples = _examples(request)
        user = render(
            read_prompt("item_user.txt"),
            request=request,
            examples=f"{examples}\n" if examples else "",
            cues=_cues(cues),
            rationale=_excerpt(" ".join(rationale.split()), [s for _, s in cues]),
        )
        out.append(ItemPrompt(i, request, str(item.get("decision", "")), item_system(), user))
    return out


def summary_excerpt(normalized: str) -> str:
    """The case summary's sentences naming diagnoses, else its opening, for the diagnoses call."""
    start, end = summary_bounds(normalized)
    summary = " ".join(normalized[start:end].split()).removeprefix("CLINICAL CASE SUMMARY")
    sentences = [m.group().strip() for m in _SENTENCE.finditer(summary) if m.group().strip()]
    picked = [s for s in sentences if _DIAGNOSIS.search(s)]
    text = " ".join(picked) if picked else summary
    return text[:SUMMARY_CHARS].strip()


def diagnoses_user(normalized: str) -> str:
    """The user message of the diagnoses call."""
    return render(read_prompt("diagnoses_user.txt"), summary=summary_excerpt(normalized))


__all__ = ["ItemPrompt", "diagnoses_system", "diagnoses_user", "item_prompts", "item_system"]
