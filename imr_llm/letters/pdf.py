"""The text layer of a PDF, read with PDFium (pypdfium2), laid out as the letters' .txt files.

PDFium gives each page's text with CRLF line ends and writes U+FFFE where it removed a
hyphen at a line end ("x-ray" broken after "x-"). Unlike pypdf it drops the empty paragraphs
that separate a letter's sections, and the anchors end requests, guidelines and rationales at
those breaks; so an empty line is put back wherever the baseline drops much further than the
letter's usual line pitch, and between pages where a page ends a sentence.
"""

from __future__ import annotations

import ctypes
import itertools
import re
import statistics
import threading
from collections.abc import Iterator

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

from imr_llm.errors import PdfError

# One line of a page and the height of its baseline on the page (None: no text to place).
Line = tuple[str, float | None]

# PDFium is not thread-safe, not even for different documents.
_LOCK = threading.Lock()
_BREAK = re.compile("\r\n|\r|\n|\ufffe")
_SENTENCE_END = re.compile(r"[.:;!?][\"')\]]?$")
# A paragraph gap: the baseline drops by more than this many line pitches. The letters set
# lines about 1.15 pitches apart inside a paragraph and 2 or more across an empty one.
_PARAGRAPH_GAP = 1.75
_DAMAGED = "cannot parse PDF (truncated or damaged?)"
_OPEN_ERRORS = {
    pdfium_c.FPDF_ERR_PASSWORD: "PDF is password-protected; remove the password first",
    pdfium_c.FPDF_ERR_SECURITY: (
        "PDF uses an unsupported encryption (security handler); remove the encryption first"
    ),
    pdfium_c.FPDF_ERR_FORMAT: f"{_DAMAGED}: not a PDF or damaged beyond repair",
    pdfium_c.FPDF_ERR_FILE: f"{_DAMAGED}: the file could not be read",
    pdfium_c.FPDF_ERR_PAGE: f"{_DAMAGED}: a page could not be read",
}
NO_TEXT = "PDF has no text layer (scanned image?); run OCR first"


def pdf_text(data: bytes, path: str | None = None) -> tuple[str, tuple[str, ...]]:
    """The letter's text, one line per PDF line, and notes on what PDFium had to repair."""
    notes: tuple[str, ...] = ()
    with _LOCK:
        pdf = _open(data, path)
        try:
            if not pdfium_c.FPDF_DocumentHasValidCrossReferenceTable(pdf):
                notes = ("pdfium: cross-reference table damaged; rebuilt from the file",)
            pages = [_page(pdf, index) for index in range(len(pdf))]
        except pdfium.PdfiumError as exc:  # e.g. "Failed to load page." in a cyclic page tree
            raise PdfError(f"{_DAMAGED}: {exc}", path=path) from exc
        finally:
            pdf.close()
    text = "\n".join(_laid_out(pages))
    if not text.strip():
        raise PdfError(NO_TEXT, path=path)
    return text, notes


def _open(data: bytes, path: str | None) -> pdfium.PdfDocument:
    """The document, opened with no password: PDFium opens files encrypted with an empty user
    password (the DWC's letters are) and refuses the ones that need a real one."""
    # The raw call, not PdfDocument(data): for a file without pages that raises with the
    # error code of an earlier failure, and leaves the document open.
    raw = pdfium_c.FPDF_LoadMemDocument64(data, len(data), None)
    if not raw:
        code = pdfium_c.FPDF_GetLastError()
        raise PdfError(_OPEN_ERRORS.get(code, f"{_DAMAGED}: PDFium error {code}"), path=path)
    if pdfium_c.FPDF_GetPageCount(raw) < 1:
        pdfium_c.FPDF_CloseDocument(raw)
        raise PdfError("PDF has no pages", path=path)
    # PDFium reads ``data`` in place; the caller holds it until the document is closed.
    return pdfium.PdfDocument(raw)


def _page(pdf: pdfium.PdfDocument, index: int) -> list[Line]:
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            return _lines(textpage)
        finally:
            textpage.close()
    finally:
        page.close()


def _lines(textpage: pdfium.PdfTextPage) -> list[Line]:
    """The page's lines, a removed line-end hyphen put back, each with its baseline."""
    text = str(textpage.get_text_range())
    x, y = ctypes.c_double(), ctypes.c_double()
    out: list[Line] = []
    for start, line in _split(text):
        baseline = None
        if stripped := line.lstrip():
            first = start + len(line) - len(stripped)
            char = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage, first)
            if char >= 0 and pdfium_c.FPDFText_GetCharOrigin(textpage, char, x, y):
                baseline = float(y.value)
        out.append((line.rstrip(), baseline))
    return out


def _split(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) for each line; a U+FFFE ends its line with the hyphen it stands for."""
    start = 0
    for brk in _BREAK.finditer(text):
        hyphen = "-" if brk.group() == "\ufffe" else ""
        yield start, text[start : brk.start()] + hyphen
        start = brk.end()
    yield start, text[start:]


def _pitch(pages: list[list[Line]]) -> float:
    """The letter's usual drop from one line to the next (the median, so gaps do not count)."""
    drops = []
    for page in pages:
        placed = [baseline for _, baseline in page if baseline is not None]
        drops += [a - b for a, b in itertools.pairwise(placed) if a > b]
    return statistics.median(drops) if drops else 0.0


def _laid_out(pages: list[list[Line]]) -> Iterator[str]:
    """Every line, with an empty line at each paragraph gap and between pages that end a
    sentence. The pitch is the whole letter's: a page of short paragraphs has more gaps than
    line steps."""
    gap = _PARAGRAPH_GAP * _pitch(pages)
    last = ""
    for number, page in enumerate(pages):
        if number and _SENTENCE_END.search(last):
            yield ""
        previous = None
        for line, baseline in page:
            if baseline is not None:
                if gap and previous is not None and previous - baseline > gap:
                    yield ""
                previous = baseline
            if line:
                last = line
            yield line
