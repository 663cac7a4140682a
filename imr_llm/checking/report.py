"""The analyst's overview of a run: overturn rates by group, with charts and their numbers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from imr_llm.checking.charts import Bar, bar_chart
from imr_llm.checking.page import counted, esc, page
from imr_llm.models import Determination, DisputedItem, Extraction

CHART_ROWS = 20
NONE = "(none)"
REPORT_CSS = """
main { max-width: 1100px; margin: 0 auto; padding: 14px 18px 40px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0 18px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; }
.card b { display: block; font-size: 20px; }
section.group { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 14px; margin: 0 0 16px; }
section.group table { margin-top: 8px; min-width: 420px; }
svg.chart text { font: 12px system-ui, sans-serif; fill: #1d2330; }
svg.chart text.note { fill: #667085; }
"""

Keys = Callable[[Determination, DisputedItem], Iterable[str]]


@dataclass(slots=True)
class Group:
    """Items in one group and how many of them were overturned."""

    items: int = 0
    overturned: int = 0

    @property
    def rate(self) -> float:
        """Share overturned (0 for an empty group)."""
        return self.overturned / self.items if self.items else 0.0


@dataclass(slots=True)
class Overview:
    """Counts behind the report."""

    rows: int = 0
    letters: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    total: Group = field(default_factory=Group)
    items_per_letter: Counter[int] = field(default_factory=Counter)
    groups: dict[str, dict[str, Group]] = field(default_factory=dict)


GROUPINGS: dict[str, Keys] = {
    "category": lambda rec, item: [item.category or NONE],
    "subcategory": lambda rec, item: [item.subcategory or NONE],
    "reviewer specialty": lambda rec, item: rec.reviewer.specialties or [NONE],
    "reviewer guideline source": lambda rec, item: (
        [str(s) for s in item.reviewer_guideline.sources] or [NONE]
        if item.reviewer_guideline
        else [NONE]
    ),
}


def overview(rows: Sequence[Extraction]) -> Overview:
    """Tally items by category, subcategory, reviewer specialty and reviewer guideline source."""
    out = Overview(rows=len(rows), groups={name: {} for name in GROUPINGS})
    for row in rows:
        out.statuses[row.status] += 1
        if row.record is None:
            continue
        out.letters += 1
        out.items_per_letter[len(row.record.items)] += 1
        for item in row.record.items:
            overturned = item.decision == "overturned"
            out.total.items += 1
            out.total.overturned += overturned
            for name, keys in GROUPINGS.items():
                for key in dict.fromkeys(keys(row.record, item)):
                    group = out.groups[name].setdefault(key, Group())
                    group.items += 1
                    group.overturned += overturned
    return out


def _ranked(groups: dict[str, Group]) -> list[tuple[str, Group]]:
    return sorted(groups.items(), key=lambda kv: (-kv[1].items, kv[0]))


def _rate_section(name: str, groups: dict[str, Group], overall: Group) -> str:
    ranked = _ranked(groups)
    bars = [Bar(k, g.rate, f"{g.rate:.0%} of {g.items:,}") for k, g in ranked[:CHART_ROWS]]
    line = Bar("all items", overall.rate, f"{overall.rate:.1%} overturned")
    more = f" (the {CHART_ROWS} largest of {len(ranked)})" if len(ranked) > CHART_ROWS else ""
    rows = "".join(
        f"<tr><td>{esc(k)}</td><td class='num'>{g.items:,}</td>"
        f"<td class='num'>{g.overturned:,}</td><td class='num'>{g.rate:.1%}</td></tr>"
        for k, g in ranked
    )
    head = f"<tr><th>{esc(name)}</th><th class='num'>items</th><th class='num'>overturned</th>"
    return (
        f'<section class="group" id="{esc(name.replace(" ", "-"))}">'
        f"<h2>Overturn rate by {esc(name)}{more}</h2>"
        f'<p class="muted">Dashed line: all items ({overall.rate:.1%}).</p>'
        f"{bar_chart(bars, title=f'Overturn rate by {name}', scale=1.0, reference=line)}"
        f"<table>{head}<th class='num'>rate</th></tr>{rows}</table></section>"
    )


def _count_section(title: str, anchor: str, label: str, counts: list[tuple[str, int]]) -> str:
    whole = sum(n for _, n in counts) or 1
    bars = [Bar(k, n, f"{n:,} ({n / whole:.0%})") for k, n in counts[:CHART_ROWS]]
    rows = "".join(
        f"<tr><td>{esc(k)}</td><td class='num'>{n:,}</td><td class='num'>{n / whole:.1%}</td></tr>"
        for k, n in counts
    )
    return (
        f'<section class="group" id="{esc(anchor)}"><h2>{esc(title)}</h2>'
        f"{bar_chart(bars, title=title, colour='#5b8c5a')}"
        f"<table><tr><th>{esc(label)}</th><th class='num'>count</th>"
        f"<th class='num'>share</th></tr>{rows}</table></section>"
    )


def _cards(ov: Overview) -> str:
    per = ov.total.items / ov.letters if ov.letters else 0.0
    cards = [
        ("letters with a record", f"{ov.letters:,}"),
        ("disputed items", f"{ov.total.items:,}"),
        ("overturned", f"{ov.total.overturned:,} ({ov.total.rate:.1%})"),
        ("items per letter", f"{per:.2f}"),
    ]
    cards += [(f"status {s}", f"{n:,}") for s, n in sorted(ov.statuses.items())]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><b>{esc(v)}</b><span class="muted">{esc(k)}</span></div>'
            for k, v in cards
        )
        + "</div>"
    )


def render_report(rows: Sequence[Extraction], *, title: str = "imr-llm report") -> str:
    """The whole report page for ``rows``: one HTML document, nothing to fetch."""
    ov = overview(rows)
    per_category = [(k, g.items) for k, g in _ranked(ov.groups["category"])]
    per_letter = [
        (f"{n} item{'s' if n != 1 else ''}", c) for n, c in sorted(ov.items_per_letter.items())
    ]
    left_out = ov.rows - ov.letters
    note = (
        f" {left_out:,} rows without a record (failed or not IMR) are left out." if left_out else ""
    )
    body = (
        f"<main><h1>{esc(title)}</h1>"
        f'<p class="muted">{counted(ov.rows, "row")}; each disputed item counts once in every '
        f"group it belongs to (a letter's items count under each of its reviewer's specialties)."
        f"{note}</p>"
        f"{_cards(ov)}"
        + _count_section("Requests per category", "requests", "category", per_category)
        + "".join(_rate_section(name, groups, ov.total) for name, groups in ov.groups.items())
        + _count_section("Items per letter", "items-per-letter", "items in the letter", per_letter)
        + "</main>"
    )
    return page(title, body, css=REPORT_CSS)
