"""The review and report pages in a real headless Chromium (skipped when it is not installed).

Set IMR_LLM_SHOTS=/some/dir to keep the screenshots the tests take.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import CHROMIUM, Browser
from test_reports_cli import LETTERS, injected_letter

from imr_llm.checking.rows import read_rows
from imr_llm.cli.app import EXIT_OK, main
from imr_llm.models import Discrepancy, Evidence, Extraction

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


def _doubtful(row: Extraction) -> Extraction:
    """A row as a doubtful LLM run leaves it: every evidence status and a discrepancy."""
    assert row.record is not None
    cycle = ["agreed", "corrected", "conflict", "llm_only", "anchor_only"]
    evidence = [
        Evidence(field=e.field, start=e.start, end=e.end, status=cycle[i % 5])  # type: ignore[arg-type]
        for i, e in enumerate(row.evidence)
    ]
    first = row.record.items[0]
    wrong = Discrepancy(
        field="items[0].decision", anchor=first.decision, llm="overturned", resolution="anchor"
    )
    return row.model_copy(
        update={
            "status": "needs_review",
            "evidence": evidence,
            "discrepancies": [wrong],
            "warnings": ["re-asks ran out"],
        }
    )


def _failed(row: Extraction) -> Extraction:
    error = {"type": "LlmUnavailableError", "message": "connection refused"}
    return Extraction.model_validate(
        {**row.model_dump(), "status": "failed", "record": None, "evidence": [], "error": error}
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("pages")
    rows_file = folder / "anchors.jsonl"
    inputs = [str(p) for p in [*LETTERS, injected_letter(folder)]]
    assert main(["anchors", *inputs, "-o", str(rows_file)]) == EXIT_OK
    rows = read_rows(rows_file)
    rows[1], rows[2] = _doubtful(rows[1]), _failed(rows[2])
    rows_file.write_text("".join(r.model_dump_json() + "\n" for r in rows), encoding="utf-8")
    for command in ("review", "report"):
        assert main([command, str(rows_file), "-o", str(folder / f"{command}.html")]) == EXIT_OK
    return {"folder": folder, "rows": rows}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


def _open(browser: Browser, site: dict[str, Any], page: str, hash_: str = "") -> None:
    url = (site["folder"] / f"{page}.html").as_uri()
    browser.open(url + hash_)
    assert browser.errors() == []
    assert browser.requests() == [url]  # the page itself, nothing else


def _shot(browser: Browser, site: dict[str, Any], name: str, *, full_page: bool = False) -> Path:
    path = site["folder"] / f"{name}.png"
    browser.screenshot(path, full_page=full_page)
    assert path.stat().st_size > 10_000
    if keep := os.environ.get("IMR_LLM_SHOTS"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


CURRENT = "document.querySelector('article.letter:not([hidden])').dataset.name"
VISIBLE = "Array.from(document.querySelectorAll('#list a:not([hidden]) .name'), e => e.textContent)"


def test_review_page_loads_without_errors_or_network(
    browser: Browser, site: dict[str, Any]
) -> None:
    _open(browser, site, "review")
    assert browser.evaluate(CURRENT) == "CM16-0213037"
    assert browser.evaluate("document.querySelectorAll('article.letter').length") == 4


def test_every_item_decision_is_highlighted(browser: Browser, site: dict[str, Any]) -> None:
    _open(browser, site, "review")
    script = """Array.from(document.querySelectorAll('article.letter'), a =>
        Array.from(a.querySelectorAll('mark[data-f]'), m => m.dataset.f.split(' '))
          .flat().filter(f => /^items\\[\\d+\\]\\.decision$/.test(f)).sort())"""
    found = browser.evaluate(script)
    expected = [
        sorted({f"items[{i}].decision" for i in range(len(r.record.items))}) if r.record else []
        for r in site["rows"]
    ]
    assert [sorted(set(f)) for f in found] == expected
    assert all(expected[i] for i in (0, 1, 3))
    decision = "mark[data-f~='items[0].decision']"
    assert browser.evaluate(f"document.querySelector({decision!r}).textContent") == "Upheld"


def test_spans_are_coloured_by_status(browser: Browser, site: dict[str, Any]) -> None:
    _open(browser, site, "review", "#letter=2")
    marks = "document.querySelectorAll('#letter-2 mark')"
    script = f"Array.from(new Set(Array.from({marks}, m => m.dataset.s))).sort()"
    assert browser.evaluate(script) == [
        "agreed",
        "anchor_only",
        "conflict",
        "corrected",
        "llm_only",
    ]
    conflict = "document.querySelector('#letter-2 mark[data-s=conflict]')"
    colour = f"getComputedStyle({conflict}).backgroundColor"
    assert browser.evaluate(colour) == "rgb(255, 180, 180)"
    first = "document.querySelector('#letter-2 .problems h3').textContent"
    assert browser.evaluate(first) == "Discrepancies"


def test_review_filter_from_the_address(browser: Browser, site: dict[str, Any]) -> None:
    _open(browser, site, "review", "#review")
    assert browser.evaluate("document.getElementById('only-review').checked") is True
    assert browser.evaluate(VISIBLE) == ["CM16-0230548", "CM16-0232543"]
    assert browser.evaluate(CURRENT) == "CM16-0230548"
    _shot(browser, site, "review")
    browser.evaluate("document.getElementById('only-review').click()")
    assert len(browser.evaluate(VISIBLE)) == 4
    assert browser.evaluate(CURRENT) == "CM16-0230548"


def test_keyboard_moves_between_letters(browser: Browser, site: dict[str, Any]) -> None:
    _open(browser, site, "review", "#letter=1")
    seen = [browser.evaluate(CURRENT)]
    for key in ("j", "ArrowRight", "j", "j", "k", "ArrowLeft"):
        browser.press(key)
        seen.append(browser.evaluate(CURRENT))
    assert seen == [
        "CM16-0213037",
        "CM16-0230548",
        "CM16-0232543",
        "CM16-0213037",  # the injected copy has the same case number
        "CM16-0213037",  # at the end: stays
        "CM16-0232543",
        "CM16-0230548",
    ]
    browser.press("r")  # filter on: j skips letters that need no review
    assert browser.evaluate(CURRENT) == "CM16-0230548"
    browser.press("j")
    assert browser.evaluate(CURRENT) == "CM16-0232543"
    assert browser.evaluate("location.hash") == "#review&letter=3"


def test_clicking_a_field_marks_its_span(browser: Browser, site: dict[str, Any]) -> None:
    _open(browser, site, "review", "#letter=1")
    browser.evaluate("document.querySelector('#letter-1 tr[data-field=\"case_number\"]').click()")
    flashed = "Array.from(document.querySelectorAll('#letter-1 mark.flash'), m => m.textContent)"
    assert browser.evaluate(flashed) == ["CM16-0213037"]


def test_letter_text_cannot_run_or_load_anything(browser: Browser, site: dict[str, Any]) -> None:
    _open(browser, site, "review", "#letter=4")
    assert browser.evaluate("document.scripts.length") == 1
    assert browser.evaluate("document.images.length") == 0
    text = browser.evaluate("document.querySelector('#letter-4 pre').textContent")
    assert '<script>alert("pwned")</script></pre><img src=x onerror="alert(1)">' in text


def test_report_page_charts_and_numbers(browser: Browser, site: dict[str, Any]) -> None:
    _open(browser, site, "report")
    assert browser.evaluate("document.querySelectorAll('svg.chart').length") == 6
    bars = "document.querySelectorAll('#category svg g.bar').length"
    rows = "document.querySelectorAll('#category table tr').length - 1"
    assert browser.evaluate(bars) == browser.evaluate(rows) > 0
    width = "document.querySelector('svg.chart').getBoundingClientRect().width"
    assert browser.evaluate(width) > 500
    _shot(browser, site, "report", full_page=True)
