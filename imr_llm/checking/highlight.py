"""Letter text as escaped HTML with every evidence span marked, overlaps included."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from html import escape
from itertools import pairwise

from imr_llm.models import Evidence

# The status that colours a passage several fields rest on: the one a reader most needs
# to see. Every status present still gets its class (llm_only adds an underline).
STATUS_ORDER = ("conflict", "corrected", "agreed", "llm_only", "anchor_only")


def spans_in(text: str, evidence: Sequence[Evidence]) -> list[Evidence]:
    """The evidence entries that point at a non-empty passage inside ``text``."""
    return [e for e in evidence if 0 <= e.start < e.end <= len(text)]


def primary_status(statuses: Collection[str]) -> str:
    """The status that colours a passage with these statuses."""
    return next(s for s in STATUS_ORDER if s in statuses)


def _mark(chunk: str, covering: list[Evidence]) -> str:
    statuses = {e.status for e in covering}
    fields = sorted({e.field for e in covering})
    title = "\n".join(f"{e.field}: {e.status}" for e in sorted(covering, key=lambda e: e.field))
    classes = " ".join(sorted(statuses))
    return (
        f'<mark class="{classes}" data-s="{primary_status(statuses)}" '
        f'data-f="{escape(" ".join(fields))}" title="{escape(title)}">'
        f"{escape(chunk, quote=False)}</mark>"
    )


def mark_up(text: str, evidence: Sequence[Evidence]) -> str:
    """``text`` HTML-escaped, each passage under evidence wrapped in one ``<mark>``."""
    spans = spans_in(text, evidence)
    cuts = sorted({0, len(text), *(e.start for e in spans), *(e.end for e in spans)})
    out = []
    for a, b in pairwise(cuts):
        covering = [e for e in spans if e.start <= a and b <= e.end]
        chunk = text[a:b]
        out.append(_mark(chunk, covering) if covering else escape(chunk, quote=False))
    return "".join(out)
