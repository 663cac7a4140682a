"""The review page: each letter's text with its evidence marked, beside the extracted record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imr_llm.anchors.record import source_info
from imr_llm.checking.highlight import mark_up, primary_status
from imr_llm.checking.page import counted, esc, page
from imr_llm.checking.review_assets import REVIEW_CSS, REVIEW_JS
from imr_llm.errors import InputError
from imr_llm.letters.reader import LetterReader, env_timeout
from imr_llm.models import Extraction

REVIEW_STATUSES = ("needs_review", "failed")
LETTER_ROWS = (
    ("Case number", "case_number"),
    ("Date assigned", "date_assigned"),
    ("Decision date", "decision_date"),
    ("UR denial date", "ur_denial_date"),
    ("Date of injury", "date_of_injury"),
    ("Application received", "application_received"),
    ("Priority", "priority"),
    ("States of licensure", "reviewer.licensure_states"),
    ("Specialties", "reviewer.specialties"),
    ("Patient age", "patient.age"),
    ("Patient sex", "patient.sex"),
    ("Diagnoses", "diagnoses"),
)
_GUIDELINE_ROWS = (("", "text"), (" MTUS", "mtus"), (" sources", "sources"), (" pages", "pages"))
ITEM_ROWS = (
    ("Request", "request"),
    ("Decision", "decision"),
    ("Treatment", "treatment"),
    ("Generic name", "generic_name"),
    ("Category", "category"),
    ("Subcategory", "subcategory"),
    ("Strength", "strength"),
    ("Quantity", "quantity"),
    *((f"CA guideline{a}", f"claims_administrator_guideline.{b}") for a, b in _GUIDELINE_ROWS),
    *((f"Reviewer guideline{a}", f"reviewer_guideline.{b}") for a, b in _GUIDELINE_ROWS),
    ("Sections", "reviewer_guideline.sections"),
    ("Reasons", "reasons"),
    ("Summary", "summary"),
    ("Rationale", "rationale"),
)


@dataclass(frozen=True, slots=True)
class LetterView:
    """One row with the text its spans point into (None if it could not be read)."""

    row: Extraction
    name: str
    text: str | None
    note: str | None = None


def needs_review(row: Extraction) -> bool:
    """Whether a person should look at this row (needs_review or failed)."""
    return row.status in REVIEW_STATUSES


def letter_name(row: Extraction, index: int) -> str:
    """The case number, else the file stem, else the row number."""
    if row.record and row.record.case_number:
        return row.record.case_number
    return Path(row.source.path).stem if row.source.path else f"row {index + 1}"


def _read_text(
    row: Extraction, base: Path | None, reader: LetterReader
) -> tuple[str | None, str | None]:
    path = row.source.path
    if not path:
        return None, "the row names no file (read from standard input?)"
    found = [p for p in (Path(path), (base or Path()) / path) if p.is_file()]
    if not found:
        return None, f"letter text not found: {path}"
    try:  # a PDF is parsed in a worker process: one that crashes it costs its text alone
        text = reader.submit(found[0]).result().text
    except (InputError, OSError) as exc:
        return None, f"cannot read {path}: {exc}"
    if source_info(text, path).sha256 != row.source.sha256:
        return text, "the letter changed since it was extracted: highlights may be misplaced"
    return text, None


def load_views(
    rows: Sequence[Extraction], *, base: Path | None = None, pdf_timeout: float | None = None
) -> list[LetterView]:
    """Rows paired with their letter text, read from ``source.path`` (or relative to ``base``).

    A PDF that crashes the reader or takes more than ``pdf_timeout`` seconds (default:
    ``IMR_LLM_PDF_TIMEOUT`` or 30) is shown without its text, saying why.
    """
    views = []
    timeout = env_timeout() if pdf_timeout is None else pdf_timeout
    with LetterReader(timeout=timeout) as reader:
        for i, row in enumerate(rows):
            text, note = _read_text(row, base, reader)
            views.append(LetterView(row, letter_name(row, i), text, note))
    return views


def _value(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _fmt(value: Any) -> str:
    if value is None or value == []:
        return '<span class="muted">—</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return esc(", ".join(str(_fmt_plain(v)) for v in value))
    return esc(value)


def _fmt_plain(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _field_status(row: Extraction, path: str) -> tuple[str | None, bool]:
    """The status of ``path`` (or of its list entries) and whether it has a span."""
    found = [e for e in row.evidence if e.field == path or e.field.startswith(path + "[")]
    if not found:
        return None, False
    return primary_status({e.status for e in found}), any(e.end > e.start for e in found)


def _field_row(row: Extraction, label: str, path: str, value: Any) -> str:
    status, spanned = _field_status(row, path)
    pill = f'<span class="pill {status}">{status}</span>' if status else ""
    shown = _fmt(value)
    if path.endswith("rationale") and isinstance(value, str):
        shown = f"<details><summary>{len(value):,} characters</summary>{esc(value)}</details>"
    attrs = f' class="span" data-field="{esc(path)}" tabindex="0"' if spanned else ""
    return f"<tr{attrs}><th>{esc(label)}</th><td>{shown}</td><td>{pill}</td></tr>"


def _record_html(row: Extraction) -> str:
    if row.record is None:
        return '<p class="muted">No record.</p>'
    data = row.record.model_dump(mode="json")
    rows = "".join(_field_row(row, lab, p, _value(data, p)) for lab, p in LETTER_ROWS)
    parts = [f'<table class="fields">{rows}</table>']
    for i, item in enumerate(data["items"]):
        cells = "".join(
            _field_row(row, lab, f"items[{i}].{p}", _value(item, p)) for lab, p in ITEM_ROWS
        )
        badge = f'<span class="badge {esc(item["decision"])}">{esc(item["decision"])}</span>'
        parts.append(f'<h3>Item {i + 1} {badge}</h3><table class="fields">{cells}</table>')
    return "".join(parts)


def _problems_html(view: LetterView) -> str:
    row, parts = view.row, []
    if row.error:
        parts.append(f'<p class="error">{esc(row.error.type)}: {esc(row.error.message)}</p>')
    if row.discrepancies:
        trs = "".join(
            f'<tr data-field="{esc(d.field)}" tabindex="0"><td>{esc(d.field)}</td>'
            f"<td>{_fmt(d.anchor)}</td><td>{_fmt(d.llm)}</td><td>{esc(d.resolution)}</td></tr>"
            for d in row.discrepancies
        )
        head = "<tr><th>field</th><th>anchor</th><th>LLM</th><th>kept</th></tr>"
        parts.append(f'<h3>Discrepancies</h3><table class="disc">{head}{trs}</table>')
    notes = [*row.warnings, *([view.note] if view.note else [])]
    if notes:
        parts.append("<ul class='warn'>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    if not parts:
        return '<p class="clean muted">No discrepancies or warnings.</p>'
    return '<section class="problems">' + "".join(parts) + "</section>"


def _meta(row: Extraction) -> str:
    bits = [esc(row.source.path or "<stdin>"), f"{row.source.chars:,} characters"]
    if row.llm:
        usage = row.llm.usage
        bits += [
            f"model {esc(row.llm.model)}",
            counted(row.llm.attempts, "attempt"),
            f"{usage.prompt_tokens:,} + {usage.completion_tokens:,} tokens",
        ]
        bits += ["cached"] if row.llm.cached else []
    else:
        bits.append("anchors only")
    return " · ".join(bits)


def _article(view: LetterView, i: int) -> str:
    row = view.row
    text = (
        f'<pre class="letter-text">{mark_up(view.text, row.evidence)}</pre>'
        if view.text is not None
        else f'<p class="muted">{esc(view.note or "no text")}</p>'
    )
    return (
        f'<article class="letter" id="letter-{i + 1}" data-review="{int(needs_review(row))}" '
        f'data-status="{esc(row.status)}" data-name="{esc(view.name)}" hidden>'
        f'<h2>{esc(view.name)} <span class="badge {esc(row.status)}">{esc(row.status)}</span></h2>'
        f'<p class="meta muted">{_meta(row)}</p>{_problems_html(view)}'
        f'<div class="cols"><section class="text">{text}</section>'
        f'<section class="record">{_record_html(row)}</section></div></article>'
    )


def _entry(view: LetterView, i: int) -> str:
    row = view.row
    items = len(row.record.items) if row.record else 0
    disc = counted(len(row.discrepancies), "discrepancy", "discrepancies")
    extra = f", {disc}" if row.discrepancies else ""
    return (
        f'<a href="#letter={i + 1}" data-i="{i}" data-review="{int(needs_review(row))}">'
        f'<span class="name">{esc(view.name)}</span> '
        f'<span class="badge {esc(row.status)}">{esc(row.status)}</span>'
        f'<span class="muted small">{counted(items, "item")}{extra}</span></a>'
    )


def render_review(views: Sequence[LetterView], *, title: str = "imr-llm review") -> str:
    """The whole review page for ``views``: one HTML document, nothing to fetch."""
    flagged = sum(needs_review(v.row) for v in views)
    legend = "".join(
        f'<mark class="{s}" data-s="{s}">{s}</mark> '
        for s in ("agreed", "corrected", "conflict", "llm_only", "anchor_only")
    )
    body = (
        f'<header class="top"><h1>{esc(title)}</h1>'
        f'<span class="muted">{counted(len(views), "letter")} · {flagged:,} to review</span>'
        f'<label><input type="checkbox" id="only-review"> only letters needing review</label>'
        f'<span class="legend">{legend}</span>'
        '<span class="muted small">j/k or ←/→ next/previous · r filter</span></header>'
        f'<div class="layout"><nav id="list">{"".join(_entry(v, i) for i, v in enumerate(views))}'
        f"</nav><main>{''.join(_article(v, i) for i, v in enumerate(views))}"
        '<p id="empty" class="muted" hidden>No letter needs review.</p></main></div>'
    )
    return page(title, body, css=REVIEW_CSS, script=REVIEW_JS)
