"""DWC's treatment taxonomy as the lexicon knows it: categories, subcategories and examples.

Read from the lexicon's own tables (the drug table and the service rules), so the help a model
gets is the same knowledge the deterministic resolver uses, and grows with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from imr_llm.models import Category
from imr_llm.treatment.drugs import DRUGS, PHARMA, display
from imr_llm.treatment.services import RULES

# Subcategories DWC uses that no lexicon row carries yet (a category's only or usual bucket).
_EXTRA_SUBCATEGORIES = {
    "Evaluation & Management": ("Medical Specialties",),
    "Psych Services": ("Therapies",),
    "Surgery": ("Surgical Consult", "Adjunct Surgical Services"),
}
_FIELD = re.compile(r"\{[^}]*\}")
_WORD = re.compile(r"[a-z0-9]+")
# Words too common in requests to say which entry is nearest.
_STOP = frozenset(
    {
        *("a", "an", "and", "of", "for", "the", "to", "with", "without", "in", "on", "per"),
        *("x", "times", "week", "weeks", "session", "sessions", "visit", "visits", "left"),
        *("right", "bilateral", "request", "prescription", "qty"),
    }
)


@dataclass(frozen=True, slots=True)
class Example:
    """One lexicon entry shown to a model: a treatment name and where DWC files it."""

    name: str
    category: str
    subcategory: str | None
    words: frozenset[str]

    def line(self) -> str:
        """The entry as the JSON fields an item answer begins with.

        A small model copies an example written the way it is about to answer far more
        readily than an arrow notation ("pillow -> DMEPOS / DME"): on the bundled model, the
        dev letters' 23 DMEPOS items went from 5 answered right to 16.
        """
        entry = {"treatment": self.name, "category": self.category, "subcategory": self.subcategory}
        return json.dumps(entry)


def _stem(word: str) -> str:
    """``word`` without a plural s ("braces" -> "brace"), so singular and plural meet."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1)


@cache
def examples() -> tuple[Example, ...]:
    """Every lexicon entry as an example, services first, one per distinct name."""
    found: dict[str, Example] = {}
    for rule in RULES:
        name = " ".join(_FIELD.sub("", rule.treatment).split()) or rule.pattern.pattern
        if not name or name in found or "\\" in name:
            continue
        found[name] = Example(name, rule.category, rule.subcategory, _words(name))
    for drug in DRUGS:
        name = display(drug.name)
        if drug.kind != "alias" and name not in found and drug.subcategory:
            found[name] = Example(name, PHARMA, drug.subcategory, _words(drug.name))
    return tuple(found.values())


@cache
def subcategories() -> dict[str, tuple[str, ...]]:
    """Each DWC category's subcategories, as the lexicon and DWC spell them."""
    out: dict[str, list[str]] = {c.value: [] for c in Category}
    for ex in examples():
        if ex.subcategory and ex.subcategory not in out[ex.category]:
            out[ex.category].append(ex.subcategory)
    for category, extra in _EXTRA_SUBCATEGORIES.items():
        out[category] += [s for s in extra if s not in out[category]]
    return {c: tuple(subs) for c, subs in out.items()}


def known_subcategory(category: str, subcategory: str | None) -> str | None:
    """``subcategory`` spelled as DWC spells it under ``category``, or None if unknown there."""
    if not subcategory:
        return None
    wanted = " ".join(subcategory.lower().split())
    for known in subcategories().get(category, ()):
        if known.lower() == wanted:
            return known
    return None


def taxonomy_text(per_category: int = 4) -> str:
    """The taxonomy as prompt text: each category, its subcategories, a few example names."""
    lines = []
    for category, subs in subcategories().items():
        names = [ex.name for ex in examples() if ex.category == category][:per_category]
        line = f"- {category}"
        if subs:
            line += f": subcategories {', '.join(subs)}"
        if names:
            line += f" (e.g. {', '.join(names)})"
        lines.append(line)
    return "\n".join(lines)


def nearest(request: str, k: int = 4) -> list[Example]:
    """The ``k`` lexicon entries sharing the most words with ``request`` (none when none do)."""
    words = _words(request)
    scored = [(len(words & ex.words), i, ex) for i, ex in enumerate(examples())]
    best = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))
    return [ex for _, _, ex in best[:k]]


__all__ = ["Example", "examples", "known_subcategory", "nearest", "subcategories", "taxonomy_text"]
