"""Run extract() over the labelled corpus against a real endpoint and score it.

    python benchmarks/eval_extract.py --local [--limit N]            # the bundled SmolLM2
    python benchmarks/eval_extract.py --base-url URL --model NAME     # any OpenAI-compatible

Prints per-field accuracy of the raw LLM answer and of the final merged record, attempts
per letter, prompt/completion tokens per letter, and the naive baseline's prompt size.
"""

from __future__ import annotations

import argparse
import json
import re
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from imr_llm.checking.labels import compare, read_labels
from imr_llm.extraction.answer import Answer
from imr_llm.extraction.endpoint import EndpointOptions, open_client
from imr_llm.extraction.pipeline import best_answer, extract
from imr_llm.extraction.prompts import letter_for_prompt, load_prompts
from imr_llm.llm import CallResult, LlmClient
from imr_llm.models import Determination

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
ITEM_FIELDS = ("request", "decision", "quantity", "treatment", "category", "subcategory")


class Recording:
    """Duck-types LlmClient for extract(), keeping each CallResult to score the raw answer."""

    def __init__(self, inner: LlmClient) -> None:
        self.inner, self.settings, self.model = inner, inner.settings, inner.model
        self.last: CallResult | None = None

    def ask(self, *args: Any) -> CallResult:
        self.last = self.inner.ask(*args)
        return self.last


def _raw_record(result: CallResult | None) -> Determination:
    best = best_answer(result)[0] if result else None
    if best is None:
        return Determination()
    data = best.model_dump(exclude={"items"})
    items = [i.model_dump(exclude={"reasons", "summary"}) for i in best.items]
    return Determination.model_validate({**data, "items": items})


def _tokens(base_url: str, text: str) -> int:
    """Token count from llama.cpp's /extras/tokenize, else a chars/4 estimate."""
    root = base_url.removesuffix("/v1")
    body = json.dumps({"input": text}).encode()
    try:
        req = urllib.request.Request(
            f"{root}/extras/tokenize", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return len(json.load(resp)["tokens"])
    except OSError:
        return len(text) // 4


def _score(tally: dict[str, Counter[str]], record: Determination, label: dict[str, Any]) -> None:
    for field, want, got in compare(record, label, ITEM_FIELDS):
        key = re.sub(r"\[\d+\]", "[]", field)
        tally[key]["total"] += 1
        tally[key]["right"] += want == got


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--local", action="store_true")
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--limit", type=int, default=0, help="letters to run (0: all 70)")
    args = parser.parse_args()
    pairs = [
        (CORPUS / "seeds" / f"{i}.txt", lab)
        for i, lab in read_labels(CORPUS / "seeds/labels.jsonl").items()
    ]
    pairs += [
        (CORPUS / "dev/txt" / f"{i}.txt", lab)
        for i, lab in read_labels(CORPUS / "dev/labels.jsonl").items()
    ]
    pairs = pairs[: args.limit] if args.limit else pairs
    options = EndpointOptions(model=args.model, base_url=args.base_url, local=args.local)
    raw: defaultdict[str, Counter[str]] = defaultdict(Counter)
    final: defaultdict[str, Counter[str]] = defaultdict(Counter)
    stats: Counter[str] = Counter()
    with open_client(options) as inner:
        client = Recording(inner)
        base_url = inner.base_url
        schema = json.dumps(Answer.model_json_schema())
        for path, label in pairs:
            text = path.read_text(encoding="utf-8")
            start = time.perf_counter()
            row = extract(text, client=client, cache=None, path=str(path))  # type: ignore[arg-type]
            stats["seconds"] += time.perf_counter() - start
            for name, rec in (
                ("raw", _raw_record(client.last)),
                ("final", row.record or Determination()),
            ):
                _score(raw if name == "raw" else final, rec, label)
            llm = row.llm
            stats["letters"] += 1
            stats["attempts"] += llm.attempts if llm else 0
            stats["prompt"] += llm.usage.prompt_tokens if llm else 0
            stats["completion"] += llm.usage.completion_tokens if llm else 0
            stats["first_prompt"] += _tokens(
                base_url, load_prompts().system + letter_for_prompt(text)
            )
            stats["naive_prompt"] += _tokens(
                base_url, "Extract this letter as JSON.\n" + schema + text
            )
            stats[f"status:{row.status}"] += 1
            print(f"{path.name}: {row.status}, {llm.attempts if llm else 0} attempt(s)", flush=True)
    _report(raw, final, stats)


def _report(
    raw: dict[str, Counter[str]], final: dict[str, Counter[str]], stats: Counter[str]
) -> None:
    print(f"\n{'field':32} {'raw LLM':>9} {'final':>9} {'n':>5}")
    for key in final:
        r, f = raw.get(key, Counter()), final[key]
        raw_rate, final_rate = r["right"] / max(r["total"], 1), f["right"] / f["total"]
        print(f"{key:32} {raw_rate:9.1%} {final_rate:9.1%} {f['total']:5d}")
    n = stats["letters"]
    print(
        f"\nletters: {n}; "
        + ", ".join(f"{k[7:]} {v}" for k, v in stats.items() if k.startswith("status:"))
    )
    print(f"attempts per letter: {stats['attempts'] / n:.2f}")
    print(f"prompt tokens per letter (all attempts): {stats['prompt'] / n:,.0f}")
    print(f"completion tokens per letter: {stats['completion'] / n:,.0f}")
    print(f"first-attempt prompt tokens per letter (ours): {stats['first_prompt'] / n:,.0f}")
    print(f"naive baseline (whole letter + schema, one call): {stats['naive_prompt'] / n:,.0f}")
    print(f"seconds per letter: {stats['seconds'] / n:.1f}")


if __name__ == "__main__":
    main()
