"""Deterministic treatment anchors: a request heading to treatment, DWC category and subcategory.

Pure and fast: the drug table and service rules are data loaded once; nothing here imports
the LLM stack, and the optional drug dictionary is loaded only when nothing else resolved.
"""

from __future__ import annotations

import re

from imr_llm.treatment.drugs import find_drug, find_external, find_misspelled
from imr_llm.treatment.resolution import Resolution, Words
from imr_llm.treatment.services import find_service

__all__ = ["Resolution", "resolve_treatment"]

# Partial-UR headings end with the part IMR decides: "... The remaining IMR eligible portion of
# the original request, Z" or "... leaving the original request IMR eligible. The original
# request, Z".
_ELIGIBLE = re.compile(r"\boriginal\s+request,\s*", re.I)


def resolve_treatment(request: str) -> Resolution | None:
    """What ``request`` asks for, or None when no table row or rule knows it."""
    eligible = (
        [m.end() for m in _ELIGIBLE.finditer(request)] if "riginal request," in request else []
    )
    for lo in (*eligible[-1:], 0):
        if res := _resolve(request, lo):
            return res
    return None


def _resolve(text: str, lo: int) -> Resolution | None:
    words = Words(text, lo)
    drug = find_drug(words)
    found = find_service(words)
    weak, service = found if found else (True, None)
    if service and not weak and (drug is None or service.start <= drug.start):
        return service
    if drug:
        # A drug given by injection is filed under Injection or under the drug's class;
        # the heading alone does not say which.
        return None if service and service.category == "Injection" else drug
    return service or find_misspelled(words) or find_external(words)
