"""Service rules (imaging, therapy, injections, surgery, DME ...) read from data/services.tsv.

Each rule names trigger words; a rule's regex runs only when one of its triggers is a word of
the request, so the per-request cost stays a few dict look-ups and one or two searches.
"""

from __future__ import annotations

import csv
import io
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from imr_llm.treatment.resolution import Resolution, Words


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    pattern: re.Pattern[str]
    category: str
    subcategory: str | None
    treatment: str
    fields: tuple[str, ...]
    weak: bool  # a catch-all word ("injection", "surgery") that any specific rule overrides


_PARTS = {
    "cervical": "cervical spine",
    "neck": "cervical spine",
    "thoracic": "thoracic spine",
    "lumbar": "lumbar spine",
    "lumbosacral": "lumbar spine",
    **{w: w for w in ("shoulder", "elbow", "wrist", "hand", "finger", "thumb", "hip", "knee")},
    **{w: w for w in ("ankle", "foot", "pelvis", "chest", "head", "brain", "abdomen", "forearm")},
    **{"shoulders": "shoulder", "elbows": "elbow", "wrists": "wrist", "hands": "hand"},
    **{"hips": "hip", "knees": "knee", "ankles": "ankle", "feet": "foot", "pelvic": "pelvis"},
}
_LIMBS = {"extremity", "extremities", "limb", "limbs"}
_REPAIRS = re.compile(
    r"(bankart)|(slap\b|superior\s+labral\s+anterior\s+(?:and\s+)?posterior)|(rotator\s+cuff)"
    r"|(subacromial\s+decompression)",
    re.I,
)
_REPAIR_NAMES = (
    "Bankart repair",
    "SLAP repair",
    "rotator cuff repair",
    "subacromial decompression",
)
_EMG = (("EMG", ("emg", "electromyogra")), ("NCV", ("ncv", "velocit")), ("NCS", ("ncs", "stud")))


def body_parts(words: list[str]) -> str:
    """Body parts named in the words, normalized and in order ("cervical spine and hand")."""
    bilateral = "bilateral" in words
    parts: list[str] = []
    for i, word in enumerate(words):
        prev = words[i - 1] if i else ""
        part = _PARTS.get(word)
        if word == "back" and prev in ("low", "lower"):
            part = "lumbar spine"
        elif word in _LIMBS and prev in ("upper", "lower"):
            plural = bilateral or word.endswith(("ies", "limbs"))
            part = f"{prev} extremit{'ies' if plural else 'y'}"
        if part and part not in parts:
            parts.append(part)
    return " and ".join(parts)


def _xray(m: re.Match[str], w: Words) -> str:
    parts = body_parts(w.words)
    return "chest X-ray" if parts == "chest" else f"X-ray {parts}"


def _emg(m: re.Match[str], w: Words) -> str:
    found = m[0].lower()
    return "/".join(name for name, keys in _EMG if any(k in found for k in keys))


def _repair(m: re.Match[str], w: Words) -> str:
    r = _REPAIRS.search(w.text, w.lo)
    return f" with {_REPAIR_NAMES[r.lastindex - 1]}" if r and r.lastindex else ""


def _group(m: re.Match[str], w: Words) -> str:
    return next((g.lower() for g in m.groups() if g), "")


_BUILDERS: dict[str, Callable[[re.Match[str], Words], str]] = {
    "parts": lambda m, w: body_parts(w.words),
    "match": lambda m, w: m[0].lower(),
    "upper": lambda m, w: re.sub(r"\s+", "", m[0]).upper(),
    "g": _group,
    "xray": _xray,
    "emg": _emg,
    "repair": _repair,
}


def _load() -> tuple[tuple[Rule, ...], dict[str, tuple[Rule, ...]]]:
    data = resources.files("imr_llm.treatment").joinpath("data/services.tsv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO(data), delimiter="\t", quoting=csv.QUOTE_NONE)
    rules: list[Rule] = []
    by_word: dict[str, list[Rule]] = {}
    for i, row in enumerate(rows):
        fields = tuple(f for _, f, _, _ in string.Formatter().parse(row["treatment"]) if f)
        sub = row["subcategory"]
        pattern = re.compile(row["pattern"], re.I)
        category, treatment = row["category"], row["treatment"]
        rule = Rule(
            i, pattern, category, sub if sub != "-" else None, treatment, fields, row["weak"] == "1"
        )
        rules.append(rule)
        for word in row["triggers"].split():
            by_word.setdefault(word, []).append(rule)
    return tuple(rules), {w: tuple(r) for w, r in by_word.items()}


RULES, _BY_WORD = _load()
_TRIGGERS = frozenset(_BY_WORD)


def find_service(w: Words) -> tuple[bool, Resolution] | None:
    """The earliest service named in the words (specific rules before catch-alls), and if weak."""
    best: tuple[bool, int, int, Rule, re.Match[str]] | None = None
    for trigger in w.unique & _TRIGGERS:
        for rule in _BY_WORD[trigger]:
            if (m := rule.pattern.search(w.text, w.lo)) and (
                best is None or (rule.weak, m.start(), rule.index) < best[:3]
            ):
                best = (rule.weak, m.start(), rule.index, rule, m)
    if best is None:
        return None
    weak, _, _, rule, m = best
    values = {f: _BUILDERS[f](m, w) for f in rule.fields}
    treatment = " ".join(rule.treatment.format(**values).split())
    res = Resolution(treatment, None, rule.category, rule.subcategory, "rule", m.start(), m.end())
    return weak, res
