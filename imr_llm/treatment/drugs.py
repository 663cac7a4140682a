"""Drug names to generic name and DWC pharmaceutical subcategory, from data/drugs.csv.

Exact words first (brands, generics, aliases; multi-word names longest first), then
one-letter misspellings of long names, then, if installed, the optional
``drug-named-entity-recognition`` dictionary, but only for generics this table knows.
"""

from __future__ import annotations

import csv
import functools
import importlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from imr_llm.treatment.resolution import Resolution, Words

PHARMA = "Pharmaceuticals"
FUZZY_MIN = 7  # shorter names (Soma, Norco, Ultram) match exactly or not at all


@dataclass(frozen=True, slots=True)
class Drug:
    name: str
    generic: str | None
    subcategory: str | None
    kind: str  # brand | generic | alias


def _load() -> list[Drug]:
    data = resources.files("imr_llm.treatment").joinpath("data/drugs.csv").read_text("utf-8")
    return [
        Drug(r["name"], r["generic_name"] or None, r["subcategory"] or None, r["kind"])
        for r in csv.DictReader(io.StringIO(data))
    ]


def _deletions(word: str) -> Iterator[str]:
    return (word[:i] + word[i + 1 :] for i in range(len(word)))


def _by_first_word(drugs: list[Drug]) -> dict[str, list[tuple[tuple[str, ...], Drug]]]:
    index: dict[str, list[tuple[tuple[str, ...], Drug]]] = {}
    for drug in sorted(drugs, key=lambda d: -len(d.name.split())):  # longest name first
        words = tuple(drug.name.split())
        index.setdefault(words[0], []).append((words, drug))
    return index


def _one_less(names: dict[str, Drug]) -> dict[str, set[str]]:
    index: dict[str, set[str]] = {}
    for name in names:
        for cut in _deletions(name):
            index.setdefault(cut, set()).add(name)
    return index


DRUGS = _load()
_BY_FIRST = _by_first_word(DRUGS)
_FIRST = frozenset(_BY_FIRST)
_GENERICS = {d.name: d for d in DRUGS if d.kind == "generic"}
_LONG = {d.name: d for d in DRUGS if len(d.name) >= FUZZY_MIN and d.name.isalpha()}
_ONE_LESS = _one_less(_LONG)  # a long name with one letter dropped -> the names

_TOPICAL = re.compile(
    r"%|\b(?:cream|gel|ointment|lotion|topical|liniment|spray|roll-on)\b|\d\s*(?:gms?|grams?)\b"
    r"|mg\s*/\s*g\b",
    re.I,
)
_PATCH = re.compile(r"\b(?:patch|patches|transdermal)\b", re.I)
_FORM = re.compile(r"\b(cream|gel|ointment|lotion|patch|spray|liniment)", re.I)
_DOSE = re.compile(
    r"\d\s*(?:mg|mcg|ml|gm|%)|\b(?:tabs?|tablets?|caps?|capsules?|cream|gel|ointment|patch"
    r"|suspension|refills?|prescription|supply)\b",
    re.I,
)
_Hit = tuple[Drug, int, int]


def display(name: str) -> str:
    """A table name as a treatment: brands capitalized ("Norco", "MS contin"), generics as is."""
    words = [w.upper() if len(w) <= 2 else w for w in name.split()]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _exact(w: Words) -> list[_Hit]:
    if not w.unique & _FIRST:
        return []
    hits: list[_Hit] = []
    words, i = w.words, 0
    while i < len(words):
        for names, drug in _BY_FIRST.get(words[i], ()):
            n = len(names)
            if tuple(words[i : i + n]) == names:
                hits.append((drug, *w.span(i, i + n)))
                i += n - 1
                break
        i += 1
    return hits


def _pharma(treatment: str, drug: Drug, sub: str | None, span: tuple[int, int]) -> Resolution:
    return Resolution(treatment, drug.generic, PHARMA, sub, "lexicon", *span)


def find_drug(w: Words) -> Resolution | None:
    """The drug the words name: a brand as listed, else generics with form and combination rules."""
    hits = _exact(w)
    if not hits:
        return None
    brand = next((h for h in hits if h[0].kind == "brand"), None)
    if brand:
        return _pharma(display(brand[0].name), brand[0], brand[0].subcategory, brand[1:])
    return _generics(w.text, w.lo, hits)


def _generics(text: str, lo: int, hits: list[_Hit]) -> Resolution:
    drugs = list({h[0].generic or h[0].name: h[0] for h in hits}.values())
    names = [d.generic or d.name for d in drugs]
    subs = [d.subcategory for d in drugs]
    creamy = _TOPICAL.search(text, lo) is not None
    topical = creamy or (_PATCH.search(text, lo) is not None and "Opioids" not in subs)
    form = m[1].lower() if (m := _FORM.search(text, lo)) else ""
    span, generic = (hits[0][1], hits[-1][2]), "/".join(names)
    sub: str | None
    if len(drugs) == 1 and not topical:
        return _pharma(names[0], drugs[0], subs[0], span)
    if topical:
        analgesic = {"NSAID", "Topical Analgesics"} if len(drugs) == 1 else {"Topical Analgesics"}
        sub = "Topical Analgesics" if set(subs) <= analgesic else "Topical Compounds"
        treatment = f"{generic} {form or ('topical' if len(drugs) == 1 else 'cream')}"
    else:
        known = {s for s in subs if s}
        sub = "Opioids" if "Opioids" in known else (known.pop() if len(known) == 1 else None)
        treatment = generic
    return Resolution(treatment, generic, PHARMA, sub, "rule", *span)


def _within_one(a: str, b: str) -> bool:
    """Optimal-string-alignment distance of at most 1 (one edit or one adjacent swap)."""
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k in range(len(a)) if a[k] != b[k]), len(a))
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    return a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :]


def find_misspelled(w: Words) -> Resolution | None:
    """A word one edit away from exactly one long table name (never for short names)."""
    for i, word in enumerate(w.words):
        if len(word) < FUZZY_MIN or not word.isalpha():
            continue
        near = set(_ONE_LESS.get(word, ()))
        for cut in _deletions(word):
            near |= {cut} if cut in _LONG else set()
            near |= _ONE_LESS.get(cut, set())
        drugs = {_LONG[n] for n in near if _within_one(word, n)}
        if len({(d.generic, d.subcategory) for d in drugs}) == 1:
            drug = min(drugs, key=lambda d: d.name)
            name = display(drug.name) if drug.kind == "brand" else drug.generic or drug.name
            return Resolution(name, drug.generic, PHARMA, drug.subcategory, "rule", *w.span(i))
    return None


@functools.cache
def _external() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("drug_named_entity_recognition")
    except ImportError:
        return None
    finder: Callable[..., Any] = module.find_drugs
    return finder


def find_external(w: Words) -> Resolution | None:
    """A brand or generic from the optional dictionary whose generic this table classifies."""
    if not w.words or not _DOSE.search(w.text, w.lo) or (finder := _external()) is None:
        return None
    try:
        matches = finder(
            [w.text[s:e] for s, e in map(w.span, range(len(w.words)))], is_ignore_case=True
        )
    except Exception:  # an optional helper must never break the anchors
        return None
    for data, i, j in sorted(matches, key=lambda m: m[1]):
        name = re.sub(r"\s*\(.*?\)", "", str(data.get("name", ""))).lower()
        drug = _GENERICS.get(name) or _GENERICS.get(name.split()[0] if name else "")
        if drug and drug.subcategory:
            said = " ".join(w.words[i:j])
            treatment = drug.name if said == drug.name else display(said)
            return _pharma(treatment, drug, drug.subcategory, w.span(i, j))
    return None
