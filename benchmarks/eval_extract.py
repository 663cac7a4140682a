"""Run extract() over the labelled corpus against a real model and score it.

    python benchmarks/eval_extract.py --local                     # bundled model, items strategy
    python benchmarks/eval_extract.py --local --strategy letter --limit 10
    python benchmarks/eval_extract.py --base-url URL --model NAME  # any OpenAI-compatible

Prints, per item field, the accuracy of the LLM's own answer ("LLM alone": the focused answer
of the items strategy, or the whole-letter answer) and of the final merged row; reasons as
micro precision, recall and F1 over the code sets and first-code accuracy, beside the
majority baseline (every upheld item criteria_not_met, every overturned one criteria_met);
statuses, calls, tokens and seconds per letter. --rows FILE keeps the rows for `imr-llm eval`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imr_llm.checking.labels import read_labels
from imr_llm.extraction.endpoint import EndpointOptions, open_client
from imr_llm.extraction.pipeline import best_answer, extract
from imr_llm.itemwise.answers import ItemAnswer
from imr_llm.llm import CallResult, LlmClient, Reply
from imr_llm.models import Extraction

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FIELDS = ("treatment", "category", "subcategory")
BASELINE = {"upheld": "criteria_not_met", "overturned": "criteria_met"}


class Recording:
    """Duck-types LlmClient for extract(), keeping what the model itself answered."""

    def __init__(self, inner: LlmClient) -> None:
        self.inner, self.settings, self.model = inner, inner.settings, inner.model
        self.items: list[ItemAnswer | None] = []
        self.letter: CallResult | None = None
        self.timings: Counter[str] = Counter()

    def ask(self, *args: Any) -> CallResult:
        self.letter = self.inner.ask(*args)
        return self.letter

    def ask_model(self, model: Any, *args: Any, **kwargs: Any) -> Reply[Any]:
        reply = self.inner.ask_model(model, *args, **kwargs)
        if model is ItemAnswer:
            self.items.append(reply.value)
        for attempt in reply.attempts:
            self.timings.update(_server_timings(attempt.raw))
        return reply

    def llm_items(self) -> list[dict[str, Any]]:
        """The model's own item fields, in letter order."""
        if self.letter is not None:
            answer = best_answer(self.letter)[0]
            return [i.model_dump() for i in answer.items] if answer else []
        return [a.model_dump() if a else {} for a in self.items]


def _server_timings(raw: str) -> Counter[str]:
    """llama.cpp's own account of one completion (its "timings"): tokens read and written.

    ``read`` counts the prompt tokens the server actually processed (not those it had cached).
    Other servers send no timings: an empty count.
    """
    try:
        timings = json.loads(raw).get("timings") or {}
    except (ValueError, AttributeError):
        return Counter()
    return Counter(
        read=int(timings.get("prompt_n", 0)),
        cached=int(timings.get("cache_n", 0)),
        read_ms=round(timings.get("prompt_ms", 0)),
        written=int(timings.get("predicted_n", 0)),
        write_ms=round(timings.get("predicted_ms", 0)),
    )


@dataclass
class Reasons:
    """Micro P/R/F1 over code sets and first-code accuracy."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    first: int = 0
    items: int = 0

    def add(self, got: list[str], want: list[str]) -> None:
        g, w = set(got), set(want)
        self.tp, self.fp, self.fn = self.tp + len(g & w), self.fp + len(g - w), self.fn + len(w - g)
        self.first += bool(got and want and got[0] == want[0])
        self.items += 1

    def line(self, name: str) -> str:
        p = self.tp / max(self.tp + self.fp, 1)
        r = self.tp / max(self.tp + self.fn, 1)
        f1 = 2 * p * r / max(p + r, 1e-9)
        first = self.first / max(self.items, 1)
        return f"{name:28} P {p:.2f}  R {r:.2f}  F1 {f1:.2f}  first code {first:.2f}"


@dataclass
class Tally:
    fields: dict[str, Counter[str]] = field(default_factory=dict)
    reasons: dict[str, Reasons] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)

    def score(self, key: str, want: Any, got: Any) -> None:
        count = self.fields.setdefault(key, Counter())
        count["total"] += 1
        count["right"] += _same(want, got)


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, str) and isinstance(got, str):
        return want.strip().lower() == got.strip().lower()
    return bool(want == got)


def _pairs(limit: int) -> list[tuple[Path, dict[str, Any], str]]:
    pairs = [
        (CORPUS / "seeds" / f"{i}.txt", lab, "seeds")
        for i, lab in read_labels(CORPUS / "seeds/labels.jsonl").items()
    ]
    pairs += [
        (CORPUS / "dev/txt" / f"{i}.txt", lab, "dev")
        for i, lab in read_labels(CORPUS / "dev/labels.jsonl").items()
    ]
    return pairs[:limit] if limit else pairs


def _score_letter(
    tally: Tally, row: Extraction, llm: list[dict[str, Any]], label: dict[str, Any], split: str
) -> None:
    final = row.record.items if row.record else []
    for i, want in enumerate(label["items"]):
        got = final[i] if i < len(final) and final[i].request == want["request"] else None
        mine = llm[i] if i < len(llm) and got is not None else {}
        for name in FIELDS:
            tally.score(f"{name} (final)", want.get(name), getattr(got, name, None))
            tally.score(f"{name} (LLM alone)", want.get(name), mine.get(name))
            tally.score(f"{name} (LLM alone, {split})", want.get(name), mine.get(name))
        gold = list(want.get("reasons") or [])
        tally.reasons.setdefault("final", Reasons()).add(list(got.reasons) if got else [], gold)
        tally.reasons.setdefault("LLM alone", Reasons()).add(list(mine.get("reasons") or []), gold)
        baseline = [BASELINE[want["decision"]]]
        tally.reasons.setdefault("majority baseline", Reasons()).add(baseline, gold)


def _report(tally: Tally, seconds: float) -> None:
    print(f"\n{'field':34} {'right':>6} {'total':>6} {'accuracy':>9}")
    for key in sorted(tally.fields):
        c = tally.fields[key]
        print(f"{key:34} {c['right']:6d} {c['total']:6d} {c['right'] / c['total']:9.1%}")
    print("\nreasons (micro over items):")
    for name in ("final", "LLM alone", "majority baseline"):
        print("  " + tally.reasons[name].line(name))
    s, n = tally.stats, max(tally.stats["letters"], 1)
    statuses = ", ".join(f"{k[7:]} {v}" for k, v in sorted(s.items()) if k.startswith("status:"))
    print(f"\nletters: {s['letters']}; {statuses}")
    print(f"LLM calls (attempts) per letter: {s['attempts'] / n:.2f}")
    print(f"prompt tokens per letter: {s['prompt'] / n:,.0f}")
    print(f"completion tokens per letter: {s['completion'] / n:,.0f}")
    print(f"seconds per letter: {seconds / n:.1f}")
    if s["read"] or s["written"]:
        print(
            f"server time per letter: reading {s['read'] / n:,.0f} new prompt tokens "
            f"{s['read_ms'] / 1000 / n:.1f} s ({s['read'] / max(s['read_ms'] / 1000, 1e-9):.0f}/s)"
            f", writing {s['written'] / n:,.0f} tokens {s['write_ms'] / 1000 / n:.1f} s "
            f"({s['written'] / max(s['write_ms'] / 1000, 1e-9):.1f}/s); "
            f"{s['cached'] / n:,.0f} prompt tokens a letter came from its cache"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--local", action="store_true")
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--mode")
    parser.add_argument("--strategy", choices=("letter", "items"))
    parser.add_argument("--limit", type=int, default=0, help="letters to run (0: all 70)")
    parser.add_argument("--rows", help="write the rows here (JSON Lines)")
    parser.add_argument(
        "--answers", help="write each item's label and the LLM's own answer here (JSON Lines)"
    )
    args = parser.parse_args()
    options = EndpointOptions(
        model=args.model,
        base_url=args.base_url,
        mode=args.mode,
        local=args.local,
        strategy=args.strategy,
    )
    tally, seconds = Tally(), 0.0
    out = open(args.rows, "w", encoding="utf-8") if args.rows else None  # noqa: SIM115
    answers = open(args.answers, "w", encoding="utf-8") if args.answers else None  # noqa: SIM115
    with open_client(options) as inner:
        print(
            f"model {inner.model}, mode {inner.settings.mode}, strategy {inner.settings.strategy}"
        )
        for path, label, split in _pairs(args.limit):
            client = Recording(inner)
            start = time.perf_counter()
            row = extract(path.read_text(), client=client, cache=None, path=str(path))  # type: ignore[arg-type]
            seconds += time.perf_counter() - start
            _score_letter(tally, row, client.llm_items(), label, split)
            if answers:
                for want, mine in zip(label["items"], client.llm_items(), strict=False):
                    line = {"letter": path.stem, "split": split, "label": want, "llm": mine}
                    answers.write(json.dumps(line) + "\n")
            if out:
                out.write(row.model_dump_json() + "\n")
            llm = row.llm
            tally.stats.update(
                letters=1,
                attempts=llm.attempts if llm else 0,
                prompt=llm.usage.prompt_tokens if llm else 0,
                completion=llm.usage.completion_tokens if llm else 0,
            )
            tally.stats[f"status:{row.status}"] += 1
            took = time.perf_counter() - start
            t = client.timings
            tally.stats.update(t)
            server = (
                f"; read {t['read']} new tokens in {t['read_ms'] / 1000:.1f} s"
                f" ({t['cached']} cached), wrote {t['written']} in {t['write_ms'] / 1000:.1f} s"
                if t
                else ""
            )
            calls = llm.attempts if llm else 0
            print(f"{path.name}: {row.status}, {calls} call(s), {took:.1f} s{server}", flush=True)
    for handle in (out, answers):
        if handle:
            handle.close()
    _report(tally, seconds)
    print(json.dumps({"seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
