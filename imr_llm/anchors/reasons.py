"""Reason cues: the sentences of a decision rationale that say why, in guideline language.

Reviewers state their reasons in the stock phrases of MTUS, ACOEM and ODG ("no objective
functional improvement", "no red flags", "not recommended", "exceeds the recommended number
of visits", "since the surgery is not medically necessary, the associated ..."; the phrases
are in ``phrases``). Each cue is a ``Reason`` code plus the span of the sentence stating it.
Rationales quote the guideline before applying it, and a quoted rule ("imaging is indicated
when red flags are present") is no finding, so most cues count only in the reviewer's own
sentences, and only when negated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from imr_llm.anchors import phrases as P
from imr_llm.anchors.gates import Keyed, Text, caseless, keyed
from imr_llm.anchors.spans import Found
from imr_llm.models import Reason

MAX_CUES = 3
# A reviewer's sentence runs to a few hundred characters (565 at most in the corpus); a longer
# one is a pasted table or quote, or no prose at all, and is not read for cues.
_LONGEST = 1_500
# The main point first. A request that falls with another one, a treatment the guideline
# rejects outright or a repeat of what was done settles the item whatever else is said; a
# general lack of documentation supports the other points; "other" comes last.
_TIER = {
    Reason.DEPENDS_ON_DENIED_REQUEST: 0,
    Reason.GUIDELINE_NOT_RECOMMENDED: 0,
    Reason.DUPLICATE_OR_ALREADY_DONE: 0,
    Reason.DOCUMENTED_BENEFIT: 0,
    Reason.INSUFFICIENT_DOCUMENTATION: 2,
    Reason.OTHER: 3,
}
# A guideline speaking (read for whether any matches).
_ATTRIBUTED = (
    keyed(
        r"\b(?:MTUS|ACOEM|ODG|CPMTG|guidelines?|Official\s+Disability)\b[^.]{0,100}?\b(?:states?|"
        r"stated|recommends?|notes?|supports?|indicates?|discuss(?:es)?|specif(?:y|ies)|"
        r"clarif(?:y|ies)|writes?|advises?|allows?|considers?|cites?|refers?|says|encourages?|"
        r"do(?:es)?\s+not\s+(?:recommend|support|address))\b|^\W*(?:according\s+to|per|"
        r"as\s+per|regarding|with\s+regard\s+to)\b[^,]{0,80}\b(?:MTUS|ACOEM|ODG|guidelines?)\b",
        "mtus|acoem|odg|cpmtg|guideline|official",
    ),
    keyed(
        r"^\W*(?:not\s+)?recommended\b|\b(?:is|are)\s+(?:also\s+)?"
        r"(?:recommended|supported|indicated)\s+(?:when|if|for|in|as)\b",
        "recommended|supported|indicated",
    ),
    keyed(r"\b(?:can|may|should|must)\s+be\b", "can|may|should|must"),
)
# The reviewer speaking of this patient and this request, not of the guideline in general.
# One word boundary for all the words: tried once a position, not once a word.
_OWN = caseless(
    r"\b(?:(?:the|this|our)\s+(?:patient|claimant|injured\s+worker|worker|employee|applicant)|"
    r"in\s+this\s+case|he|she|his|her|him|(?:medical\s+)?records?|submitted|provided|"
    r"progress\s+(?:notes?|reports?)|treating\s+(?:physician|provider)|for\s+(?:my\s+)?review|"
    r"however|there\s+(?:was|were|has\s+been|have\s+been)|"
    r"(?:is|are|was|were)\s+(?:not\s+)?(?:noted|documented|reported|described))\b|"
    r"medically\s+necessary"
)
# The reviewer's words too, unless the sentence cites a guideline ("Regarding the request
# for naproxen, the guidelines state ...").
_WEAK_OWN = keyed(
    r"\b(?:the|this)\s+request(?:ed)?\b|\bthe\s+(?:\w+\s+)?documentation\b",
    "request|documentation",
)
_BOUNDARY = re.compile(r"[.!?][\"'\u201d)\]]*(?:\s+|(?=[\"\u201c]?[A-Z][a-z]))")
# "e.g. CURES", "Dr. Smith", an initial; "claimant's." still ends a sentence.
_ABBREVIATION = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|Dr|Mr|Mrs|Ms|No|approx|pp?|al|Inc)|(?<![\w'])\w)$"
)
_QUOTES = re.compile(r"[\"\u201c\u201d]")
_WORD = re.compile(r"[a-z0-9]{3,}")
_GENERIC = frozenset({"the", "this", "that", "these", "its", "any", "and", "for", "with", "not"})
_GUIDELINE_WORDS = frozenset(
    {"is", "are", "it", "they", "mtus", "acoem", "odg", "guideline", "guidelines", "cpmtg", "by"}
)
_COMPOUND = {"compounded", "compound", "topical", "topicals"}
_NAMES = ("request", "treatment", "generic_name")
_ITEM_FIELD = re.compile(
    r"items\[(\d+)\]\.(rationale|decision|request|treatment|generic_name|subcategory)"
)


@dataclass(frozen=True, slots=True)
class Cue:
    """A reason code and the span of the sentence that states it."""

    reason: Reason
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Sentence:
    start: int
    end: int
    own: bool  # the reviewer's finding, not a quoted or paraphrased guideline


def sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``; abbreviations ("e.g.", "Dr.") end none."""
    end = len(text) if end is None else end
    spans, lo = [], start
    for m in _BOUNDARY.finditer(text, start, end):
        # Only the last word matters; searching from ``lo`` would be quadratic in "e.g. e.g.".
        if _ABBREVIATION.search(text, max(lo, m.start() - 8), m.start()):
            continue
        spans.append((lo, m.start() + len(m[0].rstrip())))
        lo = m.end()
    if text[lo:end].strip():
        spans.append((lo, lo + len(text[lo:end].rstrip())))
    return spans


def _quoted_shares(text: str, spans: list[tuple[int, int]]) -> Iterator[float]:
    """The share of each span inside double quotes (spans in text order)."""
    marks = [m.start() for m in _QUOTES.finditer(text, spans[0][0], spans[-1][1])] if spans else []
    # With an odd count the last quote never closes; trusting it would silence the rest.
    quotes = list(zip(marks[0::2], marks[1::2], strict=False))
    j = 0
    for a, b in spans:
        while j < len(quotes) and quotes[j][1] <= a:
            j += 1
        k, inside = j, 0
        while k < len(quotes) and quotes[k][0] < b:
            inside += min(b, quotes[k][1]) - max(a, quotes[k][0])
            k += 1
        yield inside / max(b - a, 1)


def _any(patterns: tuple[Keyed, ...], text: Text) -> bool:
    return any(p.search(text) for p in patterns)


def _classify(text: str, spans: list[tuple[int, int]]) -> list[tuple[_Sentence, Text]]:
    out, guideline = [], False
    for (a, b), share in zip(spans, _quoted_shares(text, spans), strict=True):
        body, quoted = Text.of(text[a:b]), share > 0.6
        # An unattributed sentence after a guideline one usually goes on paraphrasing it.
        if quoted:
            guideline = True
        elif _OWN.search(body.folded):
            guideline = False
        elif _any(_ATTRIBUTED, body):
            guideline = True
        elif _WEAK_OWN.search(body):
            guideline = False
        out.append((_Sentence(a, b, not guideline), body))
    return out


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _GENERIC}


def _rejects_outright(text: Text, about: set[str], own: bool) -> bool:
    """A "not recommended" that rejects the treatment itself, not a use, dose or setting."""
    m, body = P.NOT_RECOMMENDED.search(text), text.body
    # The fold()-ed text differs from lower() only in letters "recommend" does not hold.
    if not m or "recommend" in P.NOT_RECOMMENDED.pattern.sub(" ", text.folded):
        return False  # none, or "X is recommended for chronic pain, not recommended for acute"
    lo = max(body.rfind(c, 0, m.start()) for c in ",;:") + 1
    hi = min([i for c in ",;:" if (i := body.find(c, m.end())) >= 0] or [len(body)])
    if P.QUALIFIED.search(text.folded, lo, hi):
        return False
    # A guideline's sentence must be about this request ("Not recommended." names nothing).
    subject = _words(body[lo : m.start()] + " " + body[m.end() : hi]) - _GUIDELINE_WORDS
    return own or not subject or bool(subject & about)


def _denials(text: Text, own: bool, about: set[str]) -> list[tuple[Reason, int]]:
    found = []
    if _any(P.DEPENDS, text):
        found.append((Reason.DEPENDS_ON_DENIED_REQUEST, 0))
    if _rejects_outright(text, about, own):
        found.append((Reason.GUIDELINE_NOT_RECOMMENDED, 0))
    if not own:
        return found
    found += [(r.reason, m.end()) for r in P.FINDING_CUES if (m := r.search(text))]
    if not found and (m := P.MISSING.search(text)):
        found.append((Reason.INSUFFICIENT_DOCUMENTATION, m.end()))
    return found


def _approvals(text: Text, own: bool) -> Iterator[tuple[Reason, int]]:
    if not own:
        return
    if (m := P.BENEFIT.search(text)) and not P.CONDITIONAL.search(text.folded, 0, m.start()):
        yield Reason.DOCUMENTED_BENEFIT, m.end()
    if m := P.MET.search(text):
        yield Reason.CRITERIA_MET, m.end()


def find_cues(
    text: str, decision: str, *, start: int = 0, end: int | None = None, request: str = ""
) -> list[Cue]:
    """Reason cues in the rationale ``text[start:end]``, main point first, at most three.

    ``decision`` ("upheld" or "overturned") picks the side: approval codes are read only on
    overturned items, denial codes only on upheld ones. ``request`` (heading and treatment
    names) tells a guideline's "X is not recommended" about this request from one about
    something else. Spans are offsets in ``text``.
    """
    about = _words(request) | (_COMPOUND if P.TOPICAL.search(Text.of(request)) else set())
    best: dict[Reason, tuple[tuple[int, int], Cue]] = {}
    for s, body in _classify(text, sentences(text, start, end)):
        if s.end - s.start > _LONGEST:
            continue
        found = (
            _approvals(body, s.own) if decision == "overturned" else _denials(body, s.own, about)
        )
        for code, at in found:
            rank = (_TIER.get(code, 1), s.start + at)
            if code not in best or rank < best[code][0]:
                best[code] = (rank, Cue(code, s.start, s.end))
    ranked = sorted(best.values(), key=lambda pair: pair[0])
    return [cue for _, cue in ranked[:MAX_CUES]]


def _about(item: dict[str, Found]) -> str:
    """The names of the request; the subcategory only tells a topical compound apart."""
    names = " ".join(str(item[k].value) for k in _NAMES if k in item)
    kind = str(item["subcategory"].value) if "subcategory" in item else ""
    return f"{names} compound" if P.TOPICAL.search(Text.of(f"{names} {kind}")) else names


def find_reason_cues(text: str, items: Sequence[Found]) -> list[Found]:
    """``items[i].reasons[k]`` facts from the item facts found in ``text`` (same offsets)."""
    fields: dict[int, dict[str, Found]] = {}
    for f in items:
        if m := _ITEM_FIELD.fullmatch(f.field):
            fields.setdefault(int(m[1]), {})[m[2]] = f
    out: list[Found] = []
    for i, item in sorted(fields.items()):
        if "rationale" not in item or "decision" not in item:
            continue  # an older layout: no rationale to read
        about = _about(item)
        span = item["rationale"]
        cues = find_cues(
            text, item["decision"].value, start=span.start, end=span.end, request=about
        )
        out += [
            Found(f"items[{i}].reasons[{k}]", cue.reason.value, cue.start, cue.end)
            for k, cue in enumerate(cues)
        ]
    return out
