"""Anchors for disputed items: heading, decision, guideline lines and rationale; in the older
layouts, request and decision only."""

from __future__ import annotations

import re
from dataclasses import dataclass

from imr_llm.anchors.guidelines import parse_guideline
from imr_llm.anchors.quantity import parse_quantity, parse_strength
from imr_llm.anchors.spans import Found
from imr_llm.letters.formats import find_section
from imr_llm.treatment.lexicon import resolve_treatment

_MARKER = re.compile(r":\s*(?P<d>Upheld|Overturned)[ \t]*(?=\n|$)")
_INTRO = re.compile(r"set\s+forth\s+below:\s*", re.I)
_LABELS = {
    "claims_administrator_guideline": re.compile(r"Claims\s+Administrator\s+guideline:\s*"),
    "reviewer_guideline": re.compile(r"MAXIMUS\s+guideline:\s*"),
    "rationale": re.compile(r"Decision\s+rationale:\s*"),
}
_ANY_LABEL = re.compile(
    r"Claims\s+Administrator\s+guideline:|MAXIMUS\s+guideline:|Decision\s+rationale:"
)
_SENTENCE_END = re.compile(r"[.!?\"')]\n")
_ENDS_SENTENCE = re.compile(r"[.!?\"')]\s*$")
# Where the sentence before a heading ends: at a space, or glued to the next capital.
_SENTENCE_STOP = re.compile(r"[.!?][\"')]?(?=\s|[A-Z])")
# Text that ends no sentence: a period inside "7.5mg" or "10/325mg" is not a stop.
_CLAUSE = r"(?:[^.!?]|[.!?](?=[a-z0-9]))+?"
# A partial-UR heading is three sentences: "X was the original request. Y was authorized by
# the Claims Administrator. The remaining IMR eligible portion of the original request, Z"
# or "... The Claims Administrator authorized Y, leaving the original request IMR eligible.
# The original request, Z". This matches from "was the original request" to the colon.
_ORIGINAL = re.compile(r"\bwas\s+the\s+original\s+request\.", re.I)
# "Certified" is California UR's own word for an approval.
_GRANTED = r"(?:authorized|certified|approved)"
_PARTIAL = re.compile(
    rf"was\s+the\s+original\s+request\.\s*(?:{_CLAUSE}\s+was\s+{_GRANTED}\s+by\s+the\s+"
    r"Claims\s+Administrator\.\s*The\s+remaining\s+IMR\s+eligible\s+portion\s+of\s+the\s+"
    rf"original\s+request|The\s+Claims\s+Administrator\s+{_GRANTED}\s+{_CLAUSE},?\s+leaving\s+"
    rf"the\s+original\s+request\s+IMR\s+eligible\.\s*The\s+original\s+request)(?:,|\s+is)?"
    rf"\s+{_CLAUSE}",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Heading:
    start: int
    end: int  # end of the request text
    decision: str
    decision_start: int
    decision_end: int
    block_end: int = 0


def _paragraph_start(text: str, lo: int, colon: int) -> int:
    """Start of the heading's paragraph; a blank line inside a sentence is a page break."""
    end = colon
    while (brk := text.rfind("\n\n", lo, end)) >= 0:
        # pypdf leaves a blank line at a page end, wherever the sentence stands.
        if brk == 0 or text[brk - 1] in ".!?:;\"')" or text[brk + 2 : brk + 3].isupper():
            return brk + 2
        end = brk
    return lo


def _floor(text: str, lo: int, colon: int) -> int:
    """The earliest a heading may begin: after the intro line and the previous item's labels."""
    ends = [m.end() for rx in (_INTRO, _ANY_LABEL) for m in rx.finditer(text, lo, colon)]
    return max(ends, default=lo)


def _partial_start(text: str, floor: int, start: int, colon: int) -> int:
    """The first sentence of a partial-UR heading, when ``start`` fell after its beginning."""
    firsts = list(_ORIGINAL.finditer(text, floor, colon))
    if not firsts or not _PARTIAL.fullmatch(text, firsts[-1].start(), colon):
        return start
    first = firsts[-1].start()
    stops = list(_SENTENCE_STOP.finditer(text, floor, first))
    begin = stops[-1].end() if stops else floor
    while begin < first and text[begin].isspace():
        begin += 1
    return min(start, begin) if begin < first else start


def _heading_start(text: str, lo: int, colon: int) -> int:
    start = _paragraph_start(text, lo, colon)
    if m := _INTRO.search(text, start, colon):
        start = m.end()
    if labels := list(_ANY_LABEL.finditer(text, start, colon)):
        # A heading glued to the previous rationale: begin after its last sentence.
        after = labels[-1].end()
        ends = list(_SENTENCE_END.finditer(text, after, colon))
        start = ends[-1].end() if ends else max(text.rfind("\n", after, colon) + 1, after)
    # A plain find first: most headings are not partial, and the regexes ignore case.
    if text.find("riginal request", lo, colon) < 0:
        return start
    return _partial_start(text, _floor(text, lo, colon), start, colon)


def find_headings(text: str, lo: int, hi: int) -> list[Heading]:
    """Item headings (``<request>: Upheld``) between ``lo`` and ``hi``."""
    heads: list[Heading] = []
    for m in _MARKER.finditer(text, lo, hi):
        start = _heading_start(text, heads[-1].decision_end if heads else lo, m.start())
        end = m.start()
        # A heading on the line right after the previous decision starts after its newline.
        while start < end and text[start].isspace():
            start += 1
        tail = re.search(r"\s+is$", text[start:end])
        end = start + tail.start() if tail else end
        if end > start:
            heads.append(Heading(start, end, m["d"].lower(), m.start("d"), m.end("d")))
    if not heads:
        return []
    bounds = [h.start for h in heads[1:]] + [hi]
    return [
        Heading(h.start, h.end, h.decision, h.decision_start, h.decision_end, b)
        for h, b in zip(heads, bounds, strict=True)
    ]


def _block_fields(text: str, head: Heading, prefix: str) -> list[Found]:
    found: list[Found] = []
    lo, hi = head.decision_end, head.block_end
    for name, rx in _LABELS.items():
        m = rx.search(text, lo, hi)
        if not m:
            continue
        stop = hi if name == "rationale" else _label_end(text, m.end(), hi)
        body = text[m.end() : stop].rstrip()
        value = " ".join(body.split())
        if name == "rationale":
            found.append(Found(f"{prefix}.rationale", value, m.end(), m.end() + len(body)))
        else:
            found += _guideline_facts(f"{prefix}.{name}", value, m.end())
    return found


def _label_end(text: str, start: int, hi: int) -> int:
    para = text.find("\n\n", start, hi)
    nxt = _ANY_LABEL.search(text, start, hi)
    ends = [e for e in (para, nxt.start() if nxt else -1) if e >= 0]
    return min(ends) if ends else hi


def _guideline_facts(field: str, value: str, start: int) -> list[Found]:
    # ``value`` is the collapsed body, which lines up with the text from ``start``.
    facts = parse_guideline(value)
    whole = (start, start + len(value))
    pages = (
        (start + facts.pages_span[0], start + facts.pages_span[1]) if facts.pages_span else whole
    )
    sections = (
        (start + facts.sections_span[0], start + facts.sections_span[1])
        if facts.sections_span
        else whole
    )
    return [
        Found(f"{field}.text", value, *whole),
        Found(f"{field}.mtus", facts.mtus, *whole),
        Found(f"{field}.sources", facts.sources, *whole),
        Found(f"{field}.pages", facts.pages, *pages),
        Found(f"{field}.sections", facts.sections, *sections),
    ]


def _request_fields(text: str, head: Heading, prefix: str) -> list[Found]:
    # Whitespace inside a normalized heading is one character per gap, so offsets in the
    # collapsed request line up with offsets in the text.
    request = " ".join(text[head.start : head.end].split())
    found = [
        Found(f"{prefix}.request", request, head.start, head.end),
        Found(f"{prefix}.decision", head.decision, head.decision_start, head.decision_end),
    ]
    for name, parse in (("quantity", parse_quantity), ("strength", parse_strength)):
        if (parsed := parse(request)) is not None:
            span = (head.start + parsed.start, head.start + parsed.end)
            found.append(Found(f"{prefix}.{name}", parsed.value, *span))
    return found + _treatment_fields(request, head.start, prefix)


def _treatment_fields(request: str, start: int, prefix: str) -> list[Found]:
    if (res := resolve_treatment(request)) is None:
        return []
    values = {
        "treatment": res.treatment,
        "generic_name": res.generic_name,
        "category": res.category,
        "subcategory": res.subcategory,
    }
    # An unknown generic name or subcategory is left to the LLM rather than anchored as null.
    span = (start + res.start, start + res.end)
    return [Found(f"{prefix}.{k}", v, *span) for k, v in values.items() if v is not None]


def find_items(text: str) -> tuple[list[Found], list[str]]:
    """Every disputed item's anchors, plus problems that make the item list doubtful."""
    section = find_section(text)
    lo = section.end() if section else 0
    heads = find_headings(text, lo, len(text))
    found: list[Found] = []
    for i, head in enumerate(heads):
        prefix = f"items[{i}]"
        found += _request_fields(text, head, prefix)
        found += _block_fields(text, head, prefix)
    return found, _count_problems(text, lo, heads)


def _count_problems(text: str, lo: int, heads: list[Heading]) -> list[str]:
    n = len(heads)
    counts = {name: len(rx.findall(text, lo)) for name, rx in _LABELS.items()}
    problems = [
        f"found {n} item heading(s) but {c} '{name.replace('_', ' ')}' block(s)"
        for name, c in counts.items()
        if c != n and not (name == "claims_administrator_guideline" and c == 0)
    ]
    if heads and not _ENDS_SENTENCE.search(text[heads[-1].decision_end : heads[-1].block_end]):
        problems.append("the letter looks truncated: the last item does not end with a sentence")
    return problems


# The older (2013-2014) layouts have no labelled item blocks: only requests and decisions
# are read from them, as far as they can be trusted.
_LEGACY_SECTION = re.compile(
    r"IMR\s+DECISION\(S\)\s+AND\s+RATIONALE\(S\)|MEDICAL\s+PROFESSIONAL\s+REVIEW", re.I
)
# "MAXIMUS Federal Services, Inc. has determined the request for X is not medically
# necessary and appropriate": a finding of "not necessary" upholds the UR denial.
_LEGACY_DETERMINED = re.compile(
    r"has\s+determined\s+(?:that\s+)?the\s+request\s+for\s+(?P<req>.+?)\s+(?P<v>is\s+not|is)\s+"
    r"medically\s+necessary",
    re.I | re.S,
)


def find_legacy_items(text: str) -> tuple[list[Found], list[str]]:
    """Requests and decisions from an older letter, or a problem saying why none were read."""
    found: list[Found] = []
    for i, m in enumerate(_LEGACY_DETERMINED.finditer(text)):
        decision = "upheld" if m["v"].lower().startswith("is not") else "overturned"
        request = " ".join(m["req"].split())
        found.append(Found(f"items[{i}].request", request, m.start("req"), m.end("req")))
        found.append(Found(f"items[{i}].decision", decision, m.start("v"), m.end(0)))
    if not found:
        section = _LEGACY_SECTION.search(text)
        heads = find_headings(text, section.end(), len(text)) if section else []
        for i, h in enumerate(heads):
            request = " ".join(text[h.start : h.end].split())
            found.append(Found(f"items[{i}].request", request, h.start, h.end))
            found.append(
                Found(f"items[{i}].decision", h.decision, h.decision_start, h.decision_end)
            )
    problems = ["older letter layout: only requests and decisions were read"]
    if not found:
        problems = ["older letter layout with no item that could be read"]
    return found, problems
