"""Score output rows against hand-checked labels, with letters and items aligned first.

Letters are matched by case number, else by file stem == label id. Items are matched by
the similarity of their request text (greedy, best pairs first, ties broken by position),
so an extra, missing or reordered item costs only itself. Definitions, as reported:

- field accuracy: right / labelled, over the letters that have both a row and a label; a
  labelled item with no matching predicted item counts as wrong on every item field.
  Strings compare case- and whitespace-insensitively, lists as sets, numbers as numbers.
- decision accuracy: right decisions / aligned item pairs.
- overturned recall: labelled-overturned items predicted overturned / labelled-overturned;
  precision: of all predicted-overturned items (extra items included), the share that
  are labelled overturned.
- grounding rate: evidence entries backed by a span the anchors found in the letter
  (agreed, corrected, anchor_only) / all evidence entries; llm_only and conflict are not.
  ``checked_rate`` is the share agreed or corrected: LLM values the anchors confirmed or fixed.
- reasons: each aligned item's predicted codes against its labelled codes, as sets, summed
  over items (micro): precision = right codes / predicted codes, recall = right codes /
  labelled codes, F1 their harmonic mean; first-code accuracy = items whose first predicted
  code is the labelled main point / aligned items (an item with no code is wrong); coverage
  = items with at least one code. Beside them, the majority baseline on the same items:
  every labelled-upheld item criteria_not_met, every overturned one criteria_met. Only
  labels that carry reasons are scored; --misses lists the items whose code set or first
  code differs.
- needs review: rows with status needs_review / all rows.
- tokens and cost: means over the rows that called an LLM (cached rows count as if paid);
  dollars from ``imr_llm.bulk.pricing``: local models cost 0, a model without a price makes the
  cost unknown (add one with --price) rather than a guess.
Rows without a label count only towards status, grounding, tokens and cost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from pathlib import PurePath
from typing import Any

from imr_llm.bulk.pricing import Prices
from imr_llm.checking.labels import LETTER_FIELDS, item_values, letter_values
from imr_llm.checking.scores import Evaluation
from imr_llm.models import Extraction

DEFINITIONS = __doc__ or ""
ALIGN_THRESHOLD = 0.5
ITEM_FIELDS = (
    "request",
    "decision",
    "treatment",
    "category",
    "subcategory",
    "quantity",
    "ca_guideline_mtus",
    "reviewer_guideline_mtus",
    "reviewer_guideline_sources",
    "reviewer_guideline_pages",
)
LETTER_KEYS = (
    *LETTER_FIELDS,
    "reviewer.licensure_states",
    "reviewer.specialties",
    "patient.age",
    "patient.sex",
    "item_count",
)
_WORD = re.compile(r"[a-z0-9]+")

Label = Mapping[str, Any]


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def similarity(a: str, b: str) -> float:
    """0..1: the mean of the character ratio and the word overlap of two request texts."""
    x, y = _words(a), _words(b)
    if not x or not y:
        return 0.0
    xs, ys = set(x.split()), set(y.split())
    overlap = len(xs & ys) / min(len(xs), len(ys))
    return (SequenceMatcher(None, x, y).ratio() + overlap) / 2


def align_items(
    predicted: Sequence[Label], labelled: Sequence[Label], *, threshold: float = ALIGN_THRESHOLD
) -> list[tuple[int, int]]:
    """``(predicted index, labelled index)`` pairs of items whose requests match, best first."""
    scored = []
    for i, p in enumerate(predicted):
        for j, lab in enumerate(labelled):
            score = similarity(str(p.get("request") or ""), str(lab.get("request") or ""))
            if score >= threshold:
                same = p.get("decision") == lab.get("decision")
                scored.append((-score, not same, abs(i - j), i, j))
    pairs, used_p, used_l = [], set(), set()
    for *_, i, j in sorted(scored):
        if i not in used_p and j not in used_l:
            pairs.append((i, j))
            used_p.add(i)
            used_l.add(j)
    return sorted(pairs)


def _stem(row: Extraction) -> str | None:
    return PurePath(row.source.path).stem if row.source.path else None


def match_letters(
    rows: Sequence[Extraction], labels: Mapping[str, Label]
) -> tuple[list[tuple[Extraction, Label]], list[Extraction]]:
    """Rows paired with their labels (case number, else file stem), and the rows left over."""
    by_case = {lab.get("case_number"): key for key, lab in labels.items() if lab.get("case_number")}
    pairs, unmatched, used = [], [], set()
    for row in rows:
        case = row.record.case_number if row.record else None
        key = by_case.get(case) if case else None
        if key is None and _stem(row) in labels:
            key = _stem(row)
        if key is None or key in used:
            unmatched.append(row)
            continue
        used.add(key)
        pairs.append((row, labels[key]))
    return pairs, unmatched


def normalized(value: Any) -> Any:
    """A value in the form fields are compared in (case, spacing, order and int/float aside)."""
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, bool):
        return ("bool", value)  # True == 1.0 in Python; an MTUS flag is not a quantity
    if value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple | set):
        return frozenset(normalized(v) for v in value)
    return value


def _label_letter(label: Label) -> dict[str, Any]:
    values = {f: label.get(f) for f in LETTER_FIELDS}
    reviewer, patient = label.get("reviewer") or {}, label.get("patient") or {}
    values["reviewer.licensure_states"] = reviewer.get("licensure_states", [])
    values["reviewer.specialties"] = reviewer.get("specialties", [])
    values["patient.age"] = patient.get("age")
    values["patient.sex"] = patient.get("sex")
    values["item_count"] = len(label.get("items") or [])
    return values


def _score_letter(ev: Evaluation, row: Extraction, label: Label, threshold: float) -> None:
    name = str(label.get("id") or label.get("case_number"))
    got = letter_values(row.record) if row.record else dict.fromkeys(LETTER_KEYS)
    for key, want in _label_letter(label).items():
        ev.record(name, key, key, want, got[key], normalized(want) == normalized(got[key]))
    predicted = [item_values(i) for i in row.record.items] if row.record else []
    wanted: list[Label] = list(label.get("items") or [])
    pairs = align_items(predicted, wanted, threshold=threshold)
    ev.count_items(predicted, wanted, pairs)
    partner = {j: i for i, j in pairs}
    for j, want_item in enumerate(wanted):
        have = predicted[partner[j]] if j in partner else None
        for f in ITEM_FIELDS:
            got_value = have.get(f) if have is not None else "<no matching item>"
            ok = have is not None and normalized(want_item.get(f)) == normalized(got_value)
            ev.record(name, f"items[{j}].{f}", f"items[].{f}", want_item.get(f), got_value, ok)
        if have is not None and "reasons" in want_item:
            ev.count_reasons(name, j, have["reasons"], want_item["reasons"], want_item["decision"])


def evaluate(
    rows: Sequence[Extraction],
    labels: Mapping[str, Label],
    *,
    prices: Prices | None = None,
    threshold: float = ALIGN_THRESHOLD,
) -> Evaluation:
    """Score ``rows`` against ``labels`` (keyed by label id, as ``labels.read_labels`` gives)."""
    ev = Evaluation(rows=len(rows), labelled=len(labels))
    pairs, unmatched = match_letters(rows, labels)
    ev.unmatched_rows = [row.source.path or "<stdin>" for row in unmatched]
    matched = {id(label) for _, label in pairs}
    ev.missing = [key for key, label in labels.items() if id(label) not in matched]
    for row, label in pairs:
        ev.matched += 1
        _score_letter(ev, row, label, threshold)
    for row in rows:
        ev.count_row(row, prices)
    return ev
