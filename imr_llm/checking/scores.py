"""The scores of an evaluation run, as a dict for machines and a table for people."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from imr_llm.bulk.pricing import Prices, cost
from imr_llm.checking.reason_scores import ReasonScore, format_reasons, majority_reasons
from imr_llm.models import Extraction

STATUSES = ("ok", "needs_review", "failed", "not_imr")
EVIDENCE_STATUSES = ("agreed", "corrected", "anchor_only", "llm_only", "conflict")
GROUNDED = frozenset({"agreed", "corrected", "anchor_only"})


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(slots=True)
class Tally:
    """How many of ``total`` compared values were right."""

    right: int = 0
    total: int = 0

    @property
    def rate(self) -> float | None:
        """right / total, None when nothing was compared."""
        return _rate(self.right, self.total)

    def as_dict(self) -> dict[str, Any]:
        """right, total and accuracy."""
        return {"right": self.right, "total": self.total, "accuracy": self.rate}


@dataclass(frozen=True, slots=True)
class Miss:
    """One labelled value the rows got wrong."""

    letter: str
    field: str
    expected: Any
    got: Any


@dataclass(slots=True)
class Spend:
    """Tokens and dollars over the rows that called an LLM."""

    letters: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0
    models: set[str] = field(default_factory=set)
    unpriced: set[str] = field(default_factory=set)

    def add(self, row: Extraction, prices: Prices | None) -> None:
        """Count one row's usage (rows without an LLM call add nothing)."""
        if row.llm is None or row.llm.model is None:
            return
        usage = row.llm.usage
        self.letters += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.models.add(row.llm.model)
        dollars = cost(row.llm.model, usage.prompt_tokens, usage.completion_tokens, prices=prices)
        if dollars is None:
            self.unpriced.add(row.llm.model)
        self.cost = None if dollars is None or self.cost is None else self.cost + dollars

    def as_dict(self) -> dict[str, Any]:
        """Totals and per-letter means."""
        per = self.letters or None
        return {
            "letters_with_llm": self.letters,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "prompt_tokens_per_letter": self.prompt_tokens / per if per else None,
            "completion_tokens_per_letter": self.completion_tokens / per if per else None,
            "cost_usd": self.cost,
            "cost_per_letter_usd": self.cost / per if per and self.cost is not None else None,
            "models": sorted(self.models),
            "unpriced_models": sorted(self.unpriced),
        }


@dataclass(slots=True)
class Evaluation:
    """Everything ``evaluate`` measured; see its module docstring for the definitions."""

    rows: int = 0
    labelled: int = 0
    matched: int = 0
    unmatched_rows: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    fields: dict[str, Tally] = field(default_factory=dict)
    items_labelled: int = 0
    items_predicted: int = 0
    items_aligned: int = 0
    decision: Tally = field(default_factory=Tally)
    overturned_labelled: int = 0
    overturned_predicted: int = 0
    overturned_found: int = 0
    evidence: Counter[str] = field(default_factory=Counter)
    spend: Spend = field(default_factory=Spend)
    reasons: ReasonScore = field(default_factory=ReasonScore)
    reasons_baseline: ReasonScore = field(default_factory=ReasonScore)
    misses: list[Miss] = field(default_factory=list)

    def record(self, letter: str, where: str, key: str, want: Any, got: Any, ok: bool) -> None:
        """Count one compared value under ``key``; keep it as a miss when wrong."""
        tally = self.fields.setdefault(key, Tally())
        tally.total += 1
        tally.right += ok
        if not ok:
            self.misses.append(Miss(letter, where, want, got))

    def count_items(
        self,
        predicted: Sequence[Mapping[str, Any]],
        labelled: Sequence[Mapping[str, Any]],
        pairs: Sequence[tuple[int, int]],
    ) -> None:
        """Item counts, decisions and the overturned class for one letter."""
        self.items_labelled += len(labelled)
        self.items_predicted += len(predicted)
        self.items_aligned += len(pairs)
        self.overturned_labelled += sum(i.get("decision") == "overturned" for i in labelled)
        self.overturned_predicted += sum(i.get("decision") == "overturned" for i in predicted)
        for i, j in pairs:
            got, want = predicted[i].get("decision"), labelled[j].get("decision")
            self.decision.total += 1
            self.decision.right += got == want
            self.overturned_found += got == want == "overturned"

    def count_reasons(
        self, letter: str, j: int, got: Sequence[str], want: Sequence[str], decision: str
    ) -> None:
        """Reason codes of one aligned item, and the majority baseline's on the same item."""
        self.reasons.add(got, want)
        self.reasons_baseline.add(majority_reasons(decision), want)
        if set(got) != set(want) or list(got[:1]) != list(want[:1]):
            self.misses.append(Miss(letter, f"items[{j}].reasons", list(want), list(got)))

    def count_row(self, row: Extraction, prices: Prices | None) -> None:
        """Status, evidence and usage of one row, labelled or not."""
        self.statuses[row.status] += 1
        self.evidence.update(e.status for e in row.evidence)
        self.spend.add(row, prices)

    @property
    def grounded(self) -> int:
        """Evidence entries backed by a span the anchors found."""
        return sum(self.evidence[s] for s in GROUNDED)

    def as_dict(self) -> dict[str, Any]:
        """The whole evaluation as JSON-ready data."""
        return {
            "letters": {
                "rows": self.rows,
                "labelled": self.labelled,
                "matched": self.matched,
                "rows_without_label": self.unmatched_rows,
                "labels_without_row": self.missing,
            },
            "status": {s: self.statuses[s] for s in STATUSES},
            "needs_review_share": _rate(self.statuses["needs_review"], self.rows),
            "fields": {k: t.as_dict() for k, t in self.fields.items()},
            "items": {
                "labelled": self.items_labelled,
                "predicted": self.items_predicted,
                "aligned": self.items_aligned,
                "recall": _rate(self.items_aligned, self.items_labelled),
                "precision": _rate(self.items_aligned, self.items_predicted),
            },
            "decision_accuracy": self.decision.as_dict(),
            "overturned": self._overturned(),
            "reasons": {
                **self.reasons.as_dict(),
                "per_code": self.reasons.per_code(),
                "baseline": self.reasons_baseline.as_dict(),
            },
            "grounding": self._grounding(),
            "usage": self.spend.as_dict(),
            "misses": [asdict(m) for m in self.misses],
        }

    def _overturned(self) -> dict[str, Any]:
        return {
            "labelled": self.overturned_labelled,
            "predicted": self.overturned_predicted,
            "found": self.overturned_found,
            "recall": _rate(self.overturned_found, self.overturned_labelled),
            "precision": _rate(self.overturned_found, self.overturned_predicted),
        }

    def _grounding(self) -> dict[str, Any]:
        total = sum(self.evidence.values())
        checked = self.evidence["agreed"] + self.evidence["corrected"]
        return {
            "rate": _rate(self.grounded, total),
            "grounded": self.grounded,
            "checked_rate": _rate(checked, total),
            "evidence": total,
            "by_status": {s: self.evidence[s] for s in EVIDENCE_STATUSES},
        }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _fraction(part: int, whole: int) -> str:
    return f"{part:,}/{whole:,} = {_pct(_rate(part, whole))}"


def _field_lines(fields: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = [f"{'field':40} {'right':>7} {'total':>7} {'accuracy':>9}"]
    for key, t in fields.items():
        lines.append(f"{key:40} {t['right']:7,} {t['total']:7,} {_pct(t['accuracy']):>9}")
    right, total = (sum(t[k] for t in fields.values()) for k in ("right", "total"))
    lines.append(f"{'ALL FIELDS':40} {right:7,} {total:7,} {_pct(_rate(right, total)):>9}")
    return lines


def _usage_lines(usage: Mapping[str, Any]) -> list[str]:
    if not usage["letters_with_llm"]:
        return ["tokens      no LLM calls (anchors only)", "cost        $0"]
    models = ", ".join(usage["models"])
    tokens = (
        f"tokens      per letter {usage['prompt_tokens_per_letter']:,.0f} prompt + "
        f"{usage['completion_tokens_per_letter']:,.0f} completion "
        f"({usage['letters_with_llm']} letters with LLM calls; {models})"
    )
    if usage["cost_usd"] is None:
        unpriced = ", ".join(usage["unpriced_models"])
        return [tokens, f"cost        unknown: no price for {unpriced} (add --price MODEL=IN,OUT)"]
    per = usage["cost_per_letter_usd"]
    return [tokens, f"cost        ${per:.4f} per letter, ${usage['cost_usd']:.4f} in all"]


def format_table(data: Mapping[str, Any], *, misses: bool = False) -> str:
    """The ``as_dict`` data as a plain-text report for the terminal."""
    letters, status, items = data["letters"], data["status"], data["items"]
    over, grounding, decision = data["overturned"], data["grounding"], data["decision_accuracy"]
    reasons = data["reasons"]
    by_status = ", ".join(f"{k} {v:,}" for k, v in grounding["by_status"].items())
    lines = [
        f"letters     {letters['rows']} rows, {letters['labelled']} labelled, "
        f"{letters['matched']} matched ({len(letters['rows_without_label'])} rows without a "
        f"label, {len(letters['labels_without_row'])} labels without a row)",
        "status      "
        + ", ".join(f"{k} {v}" for k, v in status.items())
        + f"; needs review {_pct(data['needs_review_share'])}",
        "",
        *_field_lines(data["fields"]),
        "",
        f"items       {items['labelled']} labelled, {items['predicted']} predicted, "
        f"{items['aligned']} aligned: recall {_pct(items['recall'])}, "
        f"precision {_pct(items['precision'])}",
        f"decisions   {_fraction(decision['right'], decision['total'])} of aligned items",
        f"overturned  recall {_fraction(over['found'], over['labelled'])}, "
        f"precision {_fraction(over['found'], over['predicted'])}",
        *([format_reasons(reasons, reasons["baseline"])] if reasons["items"] else []),
        f"grounding   {_pct(grounding['rate'])} of {grounding['evidence']:,} evidence entries "
        f"rest on a span in the letter; {_pct(grounding['checked_rate'])} checked by anchors",
        f"            {by_status}",
        *_usage_lines(data["usage"]),
    ]
    if misses:
        lines += [
            "",
            *(
                f"MISS {m['letter']} {m['field']}: label={m['expected']!r} got={m['got']!r}"
                for m in data["misses"]
            ),
        ]
    return "\n".join(lines)
