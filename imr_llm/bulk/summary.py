"""What a bulk output holds: rows by status, decisions by category and specialty, tokens, cost.

Tokens and cost count only rows whose LLM call was made for them (``llm.cached`` false):
a cached row was paid for by the run that first produced it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imr_llm.bulk.journal import OnBadLine, read_latest
from imr_llm.bulk.pricing import PRICES, Prices, cost, parse_price
from imr_llm.errors import UsageError
from imr_llm.models import Extraction

STATUSES = ("ok", "needs_review", "failed", "not_imr")
if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

NONE = "(none)"
# Longer tables are cut in the text report; --json has every row.
MAX_TABLE_ROWS = 25


def price_table(specs: Sequence[str] = ()) -> dict[str, tuple[float, float]]:
    """PRICES, then IMR_LLM_PRICES (JSON {"model": [input, output]}), then --price specs."""
    table = dict(PRICES)
    if raw := os.environ.get("IMR_LLM_PRICES"):
        try:
            extra = json.loads(raw)
            table.update({str(k): (float(v[0]), float(v[1])) for k, v in extra.items()})
        except (ValueError, TypeError, AttributeError, IndexError, KeyError):
            raise UsageError(
                'IMR_LLM_PRICES must be JSON like {"gpt-4o-mini": [0.15, 0.6]} '
                "(dollars per million input and output tokens)"
            ) from None
    for spec in specs:
        try:
            model, price = parse_price(spec)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        table[model] = price
    return table


def speed(per_second: float) -> str:
    """Letters a second, or a minute when fewer than one in ten seconds (a slow local model)."""
    if per_second < 0.1:
        return f"{per_second * 60:6.1f} /min"
    return f"{per_second:6.1f} /s"


@dataclass
class Summary:
    """Counts accumulated one row at a time, so a run of any size needs no memory for them."""

    prices: Prices | None = None
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    categories: dict[str, list[int]] = field(default_factory=dict)
    specialties: dict[str, list[int]] = field(default_factory=dict)
    skipped: int = 0
    cached: int = 0
    called: int = 0  # rows whose LLM call was made for them (the ones that take time)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    unpriced: set[str] = field(default_factory=set)

    @property
    def letters(self) -> int:
        return sum(self.statuses.values())

    @property
    def upheld(self) -> int:
        return sum(c[0] for c in self.categories.values())

    @property
    def overturned(self) -> int:
        return sum(c[1] for c in self.categories.values())

    def add(self, row: Extraction) -> None:
        """Count one row."""
        self.statuses[row.status] += 1
        if row.error is not None:
            self.errors[row.error.type] += 1
        if row.record is not None:
            specialties = row.record.reviewer.specialties or [NONE]
            for item in row.record.items:
                column = 1 if item.decision == "overturned" else 0
                self.categories.setdefault(item.category or NONE, [0, 0])[column] += 1
                for name in specialties:
                    self.specialties.setdefault(name, [0, 0])[column] += 1
        self._add_usage(row)

    def _add_usage(self, row: Extraction) -> None:
        if row.llm is None:
            return
        if row.llm.cached:
            self.cached += 1
            return
        self.called += 1
        used = row.llm.usage
        self.prompt_tokens += used.prompt_tokens
        self.completion_tokens += used.completion_tokens
        dollars = cost(
            row.llm.model, used.prompt_tokens, used.completion_tokens, prices=self.prices
        )
        if dollars is None:
            self.unpriced.add(row.llm.model or "?")
        else:
            self.cost += dollars

    @property
    def estimated_cost(self) -> float | None:
        """Dollars for the tokens counted, or None when no row's model has a price."""
        if self.unpriced and not self.cost:
            return None
        return self.cost

    def as_dict(self) -> dict[str, Any]:
        """Everything counted, for --json."""
        items = self.upheld + self.overturned
        return {
            "letters": self.letters,
            "statuses": {s: self.statuses.get(s, 0) for s in STATUSES},
            "skipped": self.skipped,
            "errors": dict(self.errors),
            "items": {"total": items, "upheld": self.upheld, "overturned": self.overturned},
            "overturn_rate": self.overturned / items if items else None,
            "by_category": _table(self.categories),
            "by_specialty": _table(self.specialties),
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cached_rows": self.cached,
            "cost_usd": self.estimated_cost,
            "unpriced_models": sorted(self.unpriced),
        }


def _table(counts: dict[str, list[int]]) -> list[dict[str, Any]]:
    rows = sorted(counts.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    return [
        {"name": name, "items": up + over, "upheld": up, "overturned": over,
         "overturn_rate": over / (up + over)}
        for name, (up, over) in rows
    ]  # fmt: skip


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def money(dollars: float | None) -> str:
    """$1,234.57, or four decimals under a dollar; n/a when unknown."""
    if dollars is None:
        return "n/a"
    return f"${dollars:,.2f}" if dollars >= 1 or dollars == 0 else f"${dollars:.4f}"


def _cost_line(summary: Summary) -> str:
    text = money(summary.estimated_cost)
    if summary.unpriced:
        text += f" (no price for {', '.join(sorted(summary.unpriced))}; see IMR_LLM_PRICES)"
    return text


def _table_lines(title: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"{title:<40} {'items':>9} {'overturned':>11} {'rate':>7}"]
    for row in rows[:MAX_TABLE_ROWS]:
        name = row["name"] if len(row["name"]) <= 38 else row["name"][:37] + "…"
        lines.append(
            f"  {name:<38} {row['items']:>9,} {row['overturned']:>11,} "
            f"{_rate(row['overturned'], row['items']):>7}"
        )
    if len(rows) > MAX_TABLE_ROWS:
        lines.append(f"  … {len(rows) - MAX_TABLE_ROWS} more (--json lists all)")
    return lines


def render(summary: Summary) -> str:
    """The summary as a short plain-text report."""
    data = summary.as_dict()
    statuses = " · ".join(f"{s} {n:,}" for s, n in data["statuses"].items())
    skipped = f"   (+ {summary.skipped:,} already done, skipped)" if summary.skipped else ""
    items = data["items"]
    lines = [
        f"letters  {summary.letters:,}   {statuses}{skipped}",
        f"items    {items['total']:,}   upheld {items['upheld']:,} · overturned "
        f"{items['overturned']:,} · overturn rate {_rate(items['overturned'], items['total'])}",
        f"tokens   {summary.prompt_tokens:,} prompt + {summary.completion_tokens:,} completion"
        f"   ({summary.cached:,} {'row' if summary.cached == 1 else 'rows'} from the cache,"
        " not counted)",
        f"cost     {_cost_line(summary)}",
    ]
    if summary.errors:
        lines.append(
            "errors   " + " · ".join(f"{k} {v:,}" for k, v in summary.errors.most_common())
        )
    if items["total"]:
        lines += ["", *_table_lines("by category", data["by_category"])]
        lines += ["", *_table_lines("by reviewer specialty", data["by_specialty"])]
    return "\n".join(lines)


def summarize(rows: Iterable[Extraction], prices: Prices | None = None) -> Summary:
    """Count every row."""
    summary = Summary(prices=prices)
    for row in rows:
        summary.add(row)
    return summary


def warn_bad_line(path: str) -> OnBadLine:
    """A reporter for lines of ``path`` that are not rows: one stderr line each."""

    def report(number: int, reason: str) -> None:
        print(f"imr-llm: {path}:{number}: {reason}; skipped", file=sys.stderr)

    return report


def add_command(commands: Commands) -> None:
    """Register ``imr-llm summary``."""
    parser = commands.add_parser(
        "summary",
        help="counts, overturn rates, tokens and cost of a bulk output file",
        description="Summarize a JSON Lines output: rows by status, items upheld and "
        "overturned by category and by reviewer specialty, tokens and estimated cost. "
        "When a letter has several rows (after --retry-failed) the last one counts.",
    )
    parser.add_argument("output", metavar="OUT.jsonl", help="a file written by imr-llm bulk")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=IN,OUT",
        help="dollars per million input and output tokens for a model (repeatable)",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.output):
        raise UsageError(f"no such file: {args.output}")
    rows = read_latest(args.output, warn_bad_line(args.output))
    summary = summarize(rows, price_table(args.price))
    print(json.dumps(summary.as_dict(), indent=2) if args.json else render(summary))
    return 0
