"""The reason cues' fast paths change nothing: a caseless pattern run on fold()-ed text finds
what its re.I form finds in the text, and every match holds one of its pattern's keys.

Checked on every sentence of the corpus letters, as written and with letters that re.I folds
in odd ways (dotted and dotless i, long s, the Kelvin sign), capitals and accents.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest
from conftest import CORPUS

from imr_llm.anchors import phrases, reasons
from imr_llm.anchors.gates import Keyed, Negated, Rule, Text, caseless, fold
from imr_llm.letters.normalize import normalize

# (pattern, words one of which every match holds; () when none are claimed)
Checked = tuple[re.Pattern[str], tuple[str, ...]]


def _checked(value: object) -> Iterator[Checked]:
    if isinstance(value, re.Pattern):
        yield value, ()
    elif isinstance(value, Keyed):
        yield value.pattern, value.keys
    elif isinstance(value, Negated):
        yield value.phrase, value.keys
        yield value.negated, value.keys
    elif isinstance(value, Rule):
        yield from _checked(value.pattern)
    elif isinstance(value, tuple):
        for part in value:
            yield from _checked(part)


def _patterns() -> list[Checked]:
    """Every pattern of ``phrases`` (all caseless) and the caseless ones of ``reasons``."""
    found = [c for value in vars(phrases).values() for c in _checked(value)]
    found += [
        c for name in ("_OWN", "_ATTRIBUTED", "_WEAK_OWN") for c in _checked(vars(reasons)[name])
    ]
    return found


def _odd(text: str) -> str:
    """The text with letters re.I folds oddly, and capitals and accents that lower() changes."""
    swaps = {"i": "\u0130", "e": "\u00c9", "s": "\u017f", "k": "\u212a", "o": "\u00d6"}
    out = [swaps.get(c, c) if n % 3 == 0 else c for n, c in enumerate(text)]
    return "".join(out).replace("in", "\u0131n")


def _sentences() -> list[str]:
    texts = [normalize(p.read_text(encoding="utf-8")).text for p in sorted(CORPUS.glob("*/*.txt"))]
    plain = [t[a:b] for t in texts for a, b in reasons.sentences(t)]
    return plain + [s.upper() for s in plain[::7]] + [_odd(s) for s in plain[::3]]


SENTENCES = _sentences()
PATTERNS = _patterns()


def test_there_are_patterns_and_sentences_to_check() -> None:
    assert len(PATTERNS) > 30 and len(SENTENCES) > 3000


@pytest.mark.parametrize("index", range(len(PATTERNS)))
def test_a_caseless_pattern_finds_what_its_case_blind_form_finds(index: int) -> None:
    pattern, _ = PATTERNS[index]
    assert not pattern.flags & re.I
    # Lowering the letters of a re.I pattern changes nothing it matches.
    blind = re.compile(pattern.pattern, pattern.flags | re.I)
    for text in SENTENCES:
        folded = fold(text)
        got = [m.span() for m in pattern.finditer(folded)]
        assert got == [m.span() for m in blind.finditer(text)], (pattern.pattern[:60], text)


@pytest.mark.parametrize("index", [i for i, (_, keys) in enumerate(PATTERNS) if keys])
def test_every_match_of_a_keyed_pattern_holds_one_of_its_keys(index: int) -> None:
    pattern, keys = PATTERNS[index]
    for text in SENTENCES:
        folded = Text.of(text).folded
        if pattern.search(folded):
            assert any(k in folded for k in keys), (pattern.pattern[:60], text)


def test_fold_keeps_length_and_gives_each_letter_the_ascii_letter_re_i_matches() -> None:
    letter = re.compile("[a-z]", re.I)
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert len(fold(char)) == 1
        if letter.fullmatch(char):
            assert fold(char) in "abcdefghijklmnopqrstuvwxyz", hex(code)
            assert re.fullmatch(fold(char), char, re.I), hex(code)


@pytest.mark.parametrize(
    ("pattern", "lowered"),
    [
        (r"\bMTUS\b", r"\bmtus\b"),
        (r"\S+\W\B\D[A-Z]", r"\S+\W\B\D[a-z]"),
        (r"[\"\u201C]CURES", r"[\"\u201c]cures"),
    ],
)
def test_caseless_lowers_letters_but_not_escapes(pattern: str, lowered: str) -> None:
    assert caseless(pattern).pattern == lowered


def test_caseless_refuses_group_names_and_inline_flags() -> None:
    for pattern in (r"(?P<v>x)", r"(?i)x"):
        with pytest.raises(ValueError):
            caseless(pattern)
