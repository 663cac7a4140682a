"""Horizontal bar charts as inline SVG, drawn in Python so a page needs nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imr_llm.checking.page import esc

ROW = 22
LABEL_WIDTH = 230
BAR_WIDTH = 360
NOTE_WIDTH = 130
_LABEL_CHARS = 34


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, its length (0..``scale``) and the note printed after it."""

    label: str
    value: float
    note: str


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def _bar(bar: Bar, y: int, scale: float, colour: str) -> str:
    width = 0.0 if scale <= 0 else max(0.0, min(1.0, bar.value / scale)) * BAR_WIDTH
    mid = y + ROW // 2 + 4
    return (
        f'<g class="bar"><title>{esc(bar.label)}: {esc(bar.note)}</title>'
        f'<text x="{LABEL_WIDTH - 6}" y="{mid}" text-anchor="end">{esc(_short(bar.label))}</text>'
        f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{ROW - 6}" '
        f'fill="{colour}" rx="2"></rect>'
        f'<text x="{LABEL_WIDTH + width + 5:.1f}" y="{mid}" class="note">{esc(bar.note)}</text></g>'
    )


def _reference(ref: Bar, share: float, height: int) -> str:
    x = LABEL_WIDTH + share * BAR_WIDTH
    return (
        f'<g class="reference"><title>{esc(ref.label)}: {esc(ref.note)}</title>'
        f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#d0452f" '
        f'stroke-dasharray="4 3"/></g>'
    )


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    scale: float | None = None,
    colour: str = "#3b73c8",
    reference: Bar | None = None,
) -> str:
    """An SVG bar chart; ``scale`` is a full bar (default: the largest); ``reference`` a line."""
    top = max((b.value for b in bars), default=0.0) if scale is None else scale
    height = ROW * max(len(bars), 1) + 8
    width = LABEL_WIDTH + BAR_WIDTH + NOTE_WIDTH
    rows = "".join(_bar(b, 4 + ROW * i, top, colour) for i, b in enumerate(bars))
    if not bars:
        rows = f'<text x="{LABEL_WIDTH}" y="18" class="note">no data</text>'
    axis = f'<line x1="{LABEL_WIDTH}" y1="0" x2="{LABEL_WIDTH}" y2="{height}" stroke="#98a2b3"/>'
    if reference is not None and top > 0:
        axis += _reference(reference, min(1.0, reference.value / top), height)
    return (
        f'<svg class="chart" role="img" aria-label="{esc(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{esc(title)}</title>{axis}{rows}</svg>"
    )
