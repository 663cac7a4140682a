"""The text layer of a PDF, read with PDFium (pypdfium2), laid out as the letters' .txt files.

PDFium gives each page's text with CRLF line ends and writes U+FFFE where it removed a
hyphen at a line end ("x-ray" broken after "x-"). Unlike pypdf it drops the empty paragraphs
that separate a letter's sections, and the anchors end requests, guidelines and rationales at
those breaks; so an empty line is put back wherever the baseline drops much further than the
letter's usual line pitch, and between pages where a page ends a sentence.
"""

from __future__ import annotations

import codecs
import ctypes
import itertools
import os
import platform
import re
import statistics
import threading
from collections.abc import Iterator
from typing import Any

import pypdfium2 as _pdfium  # type: ignore[import-untyped]  # noqa: F401  initializes PDFium
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
# glibc's mallopt() parameters (malloc.h), and the sizes set: chunks up to 4 MB come from the
# heap, and up to 16 MB of freed heap is kept for the next letter.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP = {_M_MMAP_THRESHOLD: 4 << 20, _M_TRIM_THRESHOLD: 16 << 20}


def _keep_freed_memory() -> None:
    """Have glibc keep the memory PDFium frees instead of handing it back to the system.

    By default each letter's fonts and streams are unmapped when it closes and faulted in
    again for the next one: about 200 page faults a letter, a tenth of its reading time.
    The settings are the process's; one set in ``MALLOC_*`` environment variables wins.
    """
    if platform.libc_ver()[0] != "glibc" or any(k.startswith("MALLOC_") for k in os.environ):
        return
    mallopt = ctypes.CDLL(None).mallopt
    for parameter, value in _KEEP.items():
        mallopt(parameter, value)


_keep_freed_memory()


def pdf_text(data: bytes, path: str | None = None) -> tuple[str, tuple[str, ...]]:
    """The letter's text, one line per PDF line, and notes on what PDFium had to repair."""
    notes: tuple[str, ...] = ()
    with _LOCK:
        pdf = _open(data, path)
        try:
            if not pdfium_c.FPDF_DocumentHasValidCrossReferenceTable(pdf):
                notes = ("pdfium: cross-reference table damaged; rebuilt from the file",)
            count = pdfium_c.FPDF_GetPageCount(pdf)
            pages = [_page(pdf, index, path) for index in range(count)]
        finally:
            pdfium_c.FPDF_CloseDocument(pdf)
    text = "\n".join(_laid_out(pages))
    if not text.strip():
        raise PdfError(NO_TEXT, path=path)
    return text, notes


def _open(data: bytes, path: str | None) -> Any:
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
    return raw


# PDFium's raw calls, not pypdfium2's page objects: their finalizers and bookkeeping took a
# tenth of the time a letter takes to read. The messages are pypdfium2's.
def _page(pdf: Any, index: int, path: str | None) -> list[Line]:
    page = pdfium_c.FPDF_LoadPage(pdf, index)
    if not page:  # e.g. in a cyclic page tree
        raise PdfError(f"{_DAMAGED}: Failed to load page.", path=path)
    try:
        textpage = pdfium_c.FPDFText_LoadPage(page)
        if not textpage:
            raise PdfError(f"{_DAMAGED}: Failed to load text page.", path=path)
        try:
            return _lines(textpage, _text(textpage, path))
        finally:
            pdfium_c.FPDFText_ClosePage(textpage)
    finally:
        pdfium_c.FPDF_ClosePage(page)


def _text(textpage: Any, path: str | None) -> str:
    """The page's text, as pypdfium2's ``PdfTextPage.get_text_range()`` gives it."""
    count = pdfium_c.FPDFText_CountChars(textpage)
    if count == -1:
        raise PdfError(f"{_DAMAGED}: Failed to get character count.", path=path)
    # Characters PDFium leaves out of the text at either end are not asked for: it would
    # read past the range (crbug.com/pdfium/2079).
    first, last, left = 0, count - 1, 0
    while first <= last:
        start = pdfium_c.FPDFText_GetTextIndexFromCharIndex(textpage, first)
        end = pdfium_c.FPDFText_GetTextIndexFromCharIndex(textpage, last)
        if start == -1:
            first, left = first + 1, left + 1
        elif end == -1:
            last -= 1
        else:
            size = end + 2 - start  # with the NUL at the end
            buffer = (ctypes.c_ushort * size)()
            written = pdfium_c.FPDFText_GetText(textpage, left, last + 1 - first, buffer)
            assert size >= written, f"Buffer too small: {size} vs {written}"
            return codecs.decode(memoryview(buffer)[: written - 1], "utf-16-le", "ignore")
    return ""


def _lines(textpage: Any, text: str) -> list[Line]:
    """The page's lines, a removed line-end hyphen put back, each with its baseline."""
    x, y = ctypes.c_double(), ctypes.c_double()
    char_index, origin = (
        pdfium_c.FPDFText_GetCharIndexFromTextIndex,
        pdfium_c.FPDFText_GetCharOrigin,
    )
    out: list[Line] = []
    for start, line in _split(text):
        baseline = None
        if stripped := line.lstrip():
            char = char_index(textpage, start + len(line) - len(stripped))
            if char >= 0 and origin(textpage, char, x, y):
                baseline = y.value
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
