"""Items in the older (2013-2014) letter layouts, parsed as far as they can be trusted."""

from __future__ import annotations

import re

from imr_llm.anchors.items import find_headings
from imr_llm.anchors.spans import Found

_SECTION = re.compile(
    r"IMR\s+DECISION\(S\)\s+AND\s+RATIONALE\(S\)|MEDICAL\s+PROFESSIONAL\s+REVIEW", re.I
)
# "MAXIMUS Federal Services, Inc. has determined the request for X is not medically
# necessary and appropriate": a finding of "not necessary" upholds the UR denial.
_DETERMINED = re.compile(
    r"has\s+determined\s+(?:that\s+)?the\s+request\s+for\s+(?P<req>.+?)\s+(?P<v>is\s+not|is)\s+"
    r"medically\s+necessary",
    re.I | re.S,
)


def find_legacy_items(text: str) -> tuple[list[Found], list[str]]:
    """Requests and decisions from an older letter, or a problem saying why none were read."""
    found: list[Found] = []
    for i, m in enumerate(_DETERMINED.finditer(text)):
        decision = "upheld" if m["v"].lower().startswith("is not") else "overturned"
        request = " ".join(m["req"].split())
        found.append(Found(f"items[{i}].request", request, m.start("req"), m.end("req")))
        found.append(Found(f"items[{i}].decision", decision, m.start("v"), m.end(0)))
    if not found:
        section = _SECTION.search(text)
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
