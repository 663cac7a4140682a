"""Property tests: normalization and anchors over arbitrary text and mangled real letters.

For any input: no untyped exception, every anchor span lies inside the text and holds the
words it claims (a decision span reads "Upheld", a date span parses to the date),
normalization is idempotent, and the anchors-only row is a valid Extraction.

Runs are derandomized when CI=true (the same examples every run); locally each run draws
new examples, and hypothesis' database in .hypothesis/ replays any failure it found.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imr_llm.anchors.dates import to_iso
from imr_llm.anchors.finder import Anchor, find_anchors
from imr_llm.anchors.record import anchors_extraction
from imr_llm.errors import InputError
from imr_llm.letters.load import Letter
from imr_llm.letters.normalize import normalize, without_surrogates
from imr_llm.letters.reader import LetterReader
from imr_llm.models import Extraction

CORPUS = Path(__file__).parent / "data" / "corpus"
LETTERS = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*/*.txt"))]
LINES = sorted({line.strip() for text in LETTERS for line in text.splitlines() if line.strip()})
SECTIONS = re.compile(
    r"(?=HOW THE IMR|The Expert Reviewer has|CLINICAL CASE SUMMARY|IMR ISSUES, DECISIONS)"
)

settings.register_profile(
    "fuzz-ci",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz-dev",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("fuzz-ci" if os.environ.get("CI") == "true" else "fuzz-dev")


def fuzz(examples: int) -> settings:
    """This module's settings with a budget of ``examples`` (the suite stays under ~20 s)."""
    return settings(PROFILE, max_examples=examples)


# --- inputs -----------------------------------------------------------------------------

# Every code point hypothesis can make, lone surrogates included (decoding never makes
# them, but extract(text) accepts any str).
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=400)
NOISE = st.text(
    st.one_of(ANY_CHAR, st.sampled_from(" \t\n\r\u00a0\u00ad\u2028\u200b\ufeff:#-/")), max_size=12
)
GAPS = st.sampled_from(["\n", "\n\n", " \n", "\r\n", "\n \n\n", "  ", "\t", "\n\n\n"])


@st.composite
def letter_like(draw: st.DrawFn) -> str:
    """Real letter lines in any order and spacing, with noise between some of them."""
    lines = draw(st.lists(st.sampled_from(LINES), min_size=1, max_size=40))
    parts = []
    for line in lines:
        parts += [line, draw(GAPS)]
        if draw(st.integers(0, 9)) == 0:
            parts.append(draw(NOISE))
    return "".join(parts)


def _lines_deleted(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    keep = [line for line in lines if rng.random() > 0.15]
    return "\n".join(keep)


def _paragraphs_shuffled(text: str, rng: random.Random) -> str:
    paragraphs = re.split(r"\n[ \t]*\n", text)
    rng.shuffle(paragraphs)
    return "\n\n".join(paragraphs)


def _sections_shuffled(text: str, rng: random.Random) -> str:
    sections = SECTIONS.split(text)
    rng.shuffle(sections)
    return "".join(sections)


def _slice_doubled(text: str, rng: random.Random) -> str:
    """A stretch of lines (often a whole item) copied to another place."""
    lines = text.split("\n")
    a = rng.randrange(len(lines))
    b = min(len(lines), a + rng.randint(1, 30))
    at = rng.randrange(len(lines) + 1)
    return "\n".join(lines[:at] + lines[a:b] + lines[at:])


def _truncated(text: str, rng: random.Random) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _crlf(text: str, rng: random.Random) -> str:
    return text.replace("\n", "\r\n")


def _tabs(text: str, rng: random.Random) -> str:
    return "".join("\t" if c == " " and rng.random() < 0.3 else c for c in text)


def _nbsp(text: str, rng: random.Random) -> str:
    return "".join("\u00a0" if c == " " and rng.random() < 0.3 else c for c in text)


def _double_spaced(text: str, rng: random.Random) -> str:
    return text.replace("\n", "\n\n")


def _spaces_doubled(text: str, rng: random.Random) -> str:
    return text.replace(" ", "  ")


MUTATIONS = [
    _lines_deleted,
    _paragraphs_shuffled,
    _sections_shuffled,
    _slice_doubled,
    _truncated,
    _crlf,
    _tabs,
    _nbsp,
    _double_spaced,
    _spaces_doubled,
]


@st.composite
def mutated_letter(draw: st.DrawFn) -> str:
    """A real letter after a few random mutations and some unicode noise."""
    text = draw(st.sampled_from(LETTERS))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    for mutate in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4)):
        text = mutate(text, rng)
    for noise in draw(st.lists(NOISE, max_size=5)):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + noise + text[at:]
    return text


ANY_INPUT = st.one_of(ANY_TEXT, letter_like(), mutated_letter())


# --- checks -----------------------------------------------------------------------------


def _words(passage: str) -> str:
    """Whitespace collapsed and line-end hyphens closed up ("on-\ngoing" is "on-going").

    Normalization rejoins a hyphenated line break only where its layout says the break is
    a line, not a paragraph; a quoted passage alone may not show that, so compare loosely.
    """
    return re.sub(r"(?<=-) ", "", " ".join(passage.split()))


def _check_quote(anchor: Anchor, text: str) -> None:
    quoted = text[anchor.start : anchor.end]
    field, value = anchor.field, anchor.value
    leaf = field.rsplit(".", 1)[-1]
    if field == "case_number":
        assert quoted == value
    elif leaf == "decision" or field == "priority":
        assert quoted.lower() == value
    elif field in ("date_assigned", "decision_date", "ur_denial_date", "date_of_injury",
                   "application_received"):  # fmt: skip
        assert to_iso(_words(quoted)) == value
    elif leaf in ("request", "rationale") or field.endswith("guideline.text"):
        assert _words(quoted) == _words(value)
    elif field == "patient.age":
        assert quoted.startswith(str(value))
    elif field == "patient.sex":
        assert quoted.lower() in {"male": ("male", "man", "gentleman"),
                                  "female": ("female", "woman", "lady")}[value]  # fmt: skip


_IN_REQUEST = ("quantity", "strength", "treatment", "generic_name", "category", "subcategory")


def _check_anchors(text: str) -> None:
    anchors = find_anchors(text)
    for anchor in anchors.anchors:
        assert 0 <= anchor.start <= anchor.end <= len(text), anchor
        _check_quote(anchor, text)
        item, _, leaf = anchor.field.partition("].")
        if leaf in _IN_REQUEST:  # parsed from the request: its span lies inside the request's
            request = anchors.get(f"{item}].request")
            assert request is not None
            assert request.start <= anchor.start <= anchor.end <= request.end, anchor


# --- properties -------------------------------------------------------------------------


# A letter double-spaced twice: every gap was 4 newlines, so every line became a paragraph,
# and the second pass read that output as double-spaced and made them lines again.
TWICE_DOUBLE_SPACED = "\n\n\n\n".join(
    ["CLINICAL CASE SUMMARY", "a 48 year old male", "x", "y", "z"]
)


@example(TWICE_DOUBLE_SPACED)
@fuzz(300)
@given(ANY_INPUT)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text).text
    assert normalize(once).text == once


@fuzz(200)
@given(ANY_INPUT)
def test_every_normalized_token_maps_back_to_itself(text: str) -> None:
    norm = normalize(text)
    for m in re.finditer(r"\S+", norm.text):
        start, end = norm.to_original(m.start(), m.end())
        assert 0 <= start <= end <= len(text)
        assert "".join(text[start:end].split()) == m[0]


@fuzz(150)
@given(ANY_INPUT, st.data())
def test_any_normalized_span_maps_to_an_ordered_span_of_the_original(
    text: str, data: st.DataObject
) -> None:
    norm = normalize(text)
    end = data.draw(st.integers(0, len(norm.text)))
    start = data.draw(st.integers(0, end))
    a, b = norm.to_original(start, end)
    assert 0 <= a <= b <= len(text)


# An item heading on the line right after the previous decision: its span began at the
# newline, so quantity and treatment spans were off by one and the quantity span inverted.
NEXT_LINE_HEADING = "IMR ISSUES, DECISIONS AND RATIONALES\nLabs: Upheld \n1 knee scooter:  Upheld\n"


@example(NEXT_LINE_HEADING)
@fuzz(300)
@given(ANY_INPUT)
def test_anchor_spans_hold_the_quoted_words(text: str) -> None:
    _check_anchors(text)


@fuzz(200)
@given(ANY_INPUT)
def test_anchors_row_is_always_a_valid_extraction(text: str) -> None:
    row = anchors_extraction(text, path="fuzz.txt")
    assert row.status in ("ok", "needs_review", "not_imr", "failed")
    assert Extraction.model_validate_json(row.model_dump_json()) == row
    for evidence in row.evidence:
        assert 0 <= evidence.start <= evidence.end <= len(text)


# --- PDFs -------------------------------------------------------------------------------

PDF_LETTERS = [p.read_bytes() for p in sorted((CORPUS.parent / "pdf").glob("*/*.pdf"))]


@pytest.fixture(scope="module")
def pdf_reader() -> Iterator[LetterReader]:
    with LetterReader(workers=2, timeout=10) as reader:
        yield reader


@st.composite
def mangled_pdf(draw: st.DrawFn) -> bytes:
    """A real letter PDF (plain or encrypted) cut short, with bytes overwritten or inserted."""
    blob = bytearray(draw(st.sampled_from(PDF_LETTERS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(blob)))
        junk = draw(st.binary(min_size=1, max_size=16))
        if draw(st.booleans()):
            blob[at : at + len(junk)] = junk
        else:
            blob[at:at] = junk
    if draw(st.booleans()):
        del blob[draw(st.integers(0, len(blob))) :]
    return bytes(blob)


@fuzz(40)
@given(mangled_pdf())
def test_a_mangled_pdf_gives_a_letter_or_a_typed_error(
    pdf_reader: LetterReader, tmp_path_factory: pytest.TempPathFactory, blob: bytes
) -> None:
    # Read in a worker process: a PDFium crash on some mangling would become a PdfError too.
    path = tmp_path_factory.mktemp("pdf") / "letter.pdf"
    path.write_bytes(blob)
    ((name, loaded),) = pdf_reader.read([str(path)])
    assert isinstance(loaded, (Letter, InputError)), loaded
    if isinstance(loaded, Letter):
        anchors_extraction(loaded.text, path=name)  # whatever text came out, a valid row


def test_a_lone_surrogate_in_a_python_string_is_replaced_not_a_traceback() -> None:
    """Hypothesis found it: no decoded file holds one, but a str given to the API may."""
    saved = Path(__file__).parent / "data" / "fuzz" / "lone-surrogate.txt"
    text = saved.read_text(encoding="utf-8").replace("<LONE SURROGATE>", "\ud800")
    row = anchors_extraction(text, path="fuzz.txt")
    assert row.status in ("ok", "needs_review")
    assert Extraction.model_validate_json(row.model_dump_json()) == row
    assert len(without_surrogates(text)) == len(text)
    assert "\ud800" not in without_surrogates(text)
