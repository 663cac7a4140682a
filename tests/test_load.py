"""Loading letters from bytes, files and stdin, and rejecting bad input with typed errors."""

from __future__ import annotations

import codecs
import io
import logging
import os
import platform
import resource
import sys
import tracemalloc
from pathlib import Path

import pytest

from imr_llm.anchors.record import anchors_extraction
from imr_llm.errors import (
    BinaryInputError,
    EmptyInputError,
    InputError,
    InputTooLargeError,
    PdfError,
    UsageError,
)
from imr_llm.letters import pdf
from imr_llm.letters.load import (
    Letter,
    _read,
    iter_paths,
    load_bytes,
    load_path,
    load_stdin,
    read_file,
)

DATA = Path(__file__).parent / "data"
LETTER_PDF = DATA / "letters" / "CM16-0242667.pdf"
LETTER_TXT = DATA / "letters" / "CM16-0242667.txt"
BAD = DATA / "bad"
# Made from LETTER_PDF and by hand (pypdf 7.1 wrote the encrypted ones).
SPECIAL = DATA / "pdf" / "special"


def _special(name: str) -> bytes:
    return (SPECIAL / name).read_bytes()


def test_real_pdf_gives_the_corpus_record() -> None:
    letter = load_path(LETTER_PDF)
    assert (letter.kind, letter.path, letter.warnings) == ("pdf", str(LETTER_PDF), ())
    # PDFium's lines, with the empty line the .txt (pypdf's text) has between sections.
    assert letter.text.startswith("Case Number: CM16-0242667\nDate Assigned: 12/22/2016 Date")
    assert "\n12/19/2016\n\nHOW THE IMR FINAL DETERMINATION WAS MADE\n" in letter.text
    from_pdf = anchors_extraction(letter.text)
    from_txt = anchors_extraction(LETTER_TXT.read_text(encoding="utf-8"))
    assert from_pdf.record == from_txt.record
    assert from_pdf.status == from_txt.status == "ok"


@pytest.mark.parametrize(
    "name",
    [
        "letter-aes128-empty-user-pw.pdf",
        "letter-aes256-empty-user-pw.pdf",
        "letter-rc4-128-empty-user-pw.pdf",
    ],
)
def test_encrypted_with_an_empty_password_opens(name: str) -> None:
    assert load_bytes(_special(name)).text == load_path(LETTER_PDF).text


def test_corpus_text_loads_unchanged() -> None:
    letter = load_path(LETTER_TXT)
    assert letter == Letter(LETTER_TXT.read_text(encoding="utf-8"), str(LETTER_TXT), (), "text")


CP1252_WARNING = "decoded as cp1252 (not valid UTF-8)"
LATIN1_WARNING = "decoded as latin-1 (not valid UTF-8 or cp1252)"


@pytest.mark.parametrize(
    ("data", "text", "warnings"),
    [
        pytest.param(b"Norco: Upheld", "Norco: Upheld", (), id="ascii"),
        pytest.param("Dépôt".encode(), "Dépôt", (), id="utf8"),
        pytest.param(codecs.BOM_UTF8 + b"Case Number", "Case Number", (), id="utf8-bom"),
        pytest.param("“MTUS”".encode("cp1252"), "“MTUS”", (CP1252_WARNING,), id="cp1252"),
        pytest.param(b"caf\xe9 \x81", "café \x81", (LATIN1_WARNING,), id="latin1"),
        pytest.param("Norco".encode("utf-16"), "Norco", (), id="utf16-bom"),
        pytest.param(b"line\r\nline", "line\r\nline", (), id="crlf-kept"),
        pytest.param(b"page 1\fpage 2\t.", "page 1\fpage 2\t.", (), id="form-feed"),
    ],
)
def test_decodes_text(data: bytes, text: str, warnings: tuple[str, ...]) -> None:
    assert load_bytes(data) == Letter(text, None, warnings, "text")


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        pytest.param(b"", EmptyInputError, "input is empty", id="empty"),
        pytest.param(b" \r\n\t\n ", EmptyInputError, "only whitespace", id="whitespace"),
        pytest.param(codecs.BOM_UTF8 + b"\n", EmptyInputError, "only whitespace", id="bom-only"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF", BinaryInputError, "JPEG", id="jpeg"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", BinaryInputError, "PNG", id="png"),
        pytest.param(b"GIF89a\x01\x00", BinaryInputError, "GIF", id="gif"),
        pytest.param(b"PK\x03\x04\x14\x00", BinaryInputError, ".docx", id="zip-docx"),
        pytest.param(b"Norco\x00\x00\x00", BinaryInputError, "NUL", id="nul"),
        pytest.param(b"Norco" + bytes(range(1, 9)) * 4, BinaryInputError, "control", id="ctrl"),
        pytest.param(b"%PDF-1.7\nnot really", PdfError, "cannot parse PDF", id="fake-pdf"),
        pytest.param(b"%PDF-", PdfError, "cannot parse PDF", id="header-only"),
        pytest.param(_special("blank-2-pages.pdf"), PdfError, "no text layer", id="pdf-no-text"),
        pytest.param(_special("image-only-page.pdf"), PdfError, "no text layer", id="pdf-image"),
        pytest.param(_special("zero-pages.pdf"), PdfError, "^PDF has no pages$", id="no-pages"),
        pytest.param(
            _special("password-rc4-128.pdf"), PdfError, "password-protected", id="pdf-password"
        ),
        pytest.param(
            _special("letter-aes256-user-pw.pdf"), PdfError, "password-protected", id="aes-pw"
        ),
        pytest.param(
            _special("encrypt-pubsec.pdf"), PdfError, "unsupported encryption", id="pubsec"
        ),
        pytest.param(
            _special("pagetree-self-cycle.pdf"), PdfError, "cannot parse PDF", id="self-cycle"
        ),
        pytest.param(
            _special("pagetree-cycle-plus-page.pdf"), PdfError, "cannot parse PDF", id="cycle"
        ),
        pytest.param(
            (DATA / "letters" / "CM16-0242667.pdf").read_bytes()[:5000],
            PdfError,
            r"cannot parse PDF \(truncated or damaged\?\)",
            id="truncated-letter",
        ),
    ],
)
def test_rejects_bad_bytes(data: bytes, error: type[InputError], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        load_bytes(data, path="in/letter.txt")
    assert type(caught.value) is error
    assert caught.value.path == "in/letter.txt"


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("empty.txt", EmptyInputError, "input is empty"),
        ("whitespace.txt", EmptyInputError, "only whitespace"),
        ("photo.txt", BinaryInputError, "looks like a JPEG image"),
        ("truncated.pdf", PdfError, "cannot parse PDF"),
    ],
)
def test_rejects_bad_files(name: str, error: type[InputError], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        load_path(BAD / name)
    assert caught.value.path == str(BAD / name)


def test_cp1252_file_loads_with_warning() -> None:
    letter = load_path(BAD / "cp1252.txt")
    assert letter.text.startswith("Claimant\u2019s \u201cNorco\u201d request")
    assert letter.warnings == (CP1252_WARNING,)


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(_special("blank-2-pages.pdf"))
    with pytest.raises(PdfError, match=r"no text layer \(scanned image\?\); run OCR first"):
        load_path(scan)


@pytest.mark.parametrize("name", ["no-xref.pdf", "xref-prev-loop.pdf"])
def test_pdfium_repairs_are_warnings_not_output(
    name: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = BAD / name if (BAD / name).exists() else SPECIAL / name
    letter = load_path(path)
    assert letter.text == "Hello IMR"
    assert letter.warnings == ("pdfium: cross-reference table damaged; rebuilt from the file",)
    assert caplog.records == []
    assert capfd.readouterr() == ("", "")  # nothing from PDFium's C code either


def test_an_unexpected_pdfium_failure_is_a_pdf_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes, path: str | None = None) -> tuple[str, tuple[str, ...]]:
        raise ValueError("bad stream")

    monkeypatch.setattr(pdf, "pdf_text", broken)
    with pytest.raises(PdfError, match=r"cannot parse PDF .*: ValueError: bad stream"):
        load_bytes(b"%PDF-1.6\n", path="x.pdf")


def test_pdf_line_ends_are_the_text_files_line_ends() -> None:
    text = load_path(DATA / "pdf" / "corpus" / "CM16-0244053.pdf").text
    # PDFium's CRLF and its U+FFFE for a hyphen at a line end ("x-" / "ray")
    assert "\r" not in text and "\ufffe" not in text
    assert "The x-\nray indicates" in text
    assert all(line == line.rstrip() for line in text.split("\n"))


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or any(k.startswith("MALLOC_") for k in os.environ),
    reason="glibc's malloc, as imr-llm sets it",
)
def test_reading_pdfs_reuses_freed_memory_instead_of_faulting_it_in_again() -> None:
    blobs = [p.read_bytes() for p in sorted((DATA / "pdf" / "corpus").glob("*.pdf"))] * 3
    for blob in blobs:
        load_bytes(blob)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for blob in blobs:
        load_bytes(blob)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 10 * len(blobs)  # glibc's defaults: about 200 a letter


def test_huge_file_fails_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(50_000_000)  # sparse: costs no disk and no time
    tracemalloc.start()
    try:
        with pytest.raises(InputTooLargeError, match=r"50\.0 MB, over the limit of 8\.0 MB") as e:
            load_path(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (e.value.size, e.value.limit, e.value.path) == (50_000_000, 8_000_000, str(big))
    assert peak < 1_000_000


def test_a_file_is_read_at_its_size_and_on_to_the_limit_if_it_grew() -> None:
    data = LETTER_PDF.read_bytes()
    tracemalloc.start()
    try:
        assert read_file(str(LETTER_PDF)) == data
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * len(data)  # not the 64 MB the limit allows
    # The size seen before reading is smaller than the bytes there: all are read, to the limit.
    grown = _read(io.BytesIO(b"x" * 100), size=40, max_chars=1000, path=None)
    assert grown == b"x" * 100
    with pytest.raises(InputTooLargeError, match="larger than the limit"):
        _read(io.BytesIO(b"x" * 100), size=40, max_chars=20, path=None)


@pytest.mark.parametrize(
    ("data", "max_chars", "size", "limit"),
    [
        pytest.param(b"abcdef", 5, 6, 5, id="chars"),
        pytest.param("é".encode() * 6, 5, 6, 5, id="multibyte-chars"),
        pytest.param(b"a" * 21, 5, 21, 20, id="bytes"),
    ],
)
def test_max_chars_rejects(data: bytes, max_chars: int, size: int, limit: int) -> None:
    with pytest.raises(InputTooLargeError) as caught:
        load_bytes(data, max_chars=max_chars)
    assert (caught.value.size, caught.value.limit) == (size, limit)


@pytest.mark.parametrize("text", ["abcde", "ééééé", "€€€€€"])
def test_max_chars_is_inclusive(text: str) -> None:
    assert load_bytes(text.encode(), max_chars=5).text == text


def test_max_chars_applies_to_pdf_text() -> None:
    with pytest.raises(InputTooLargeError, match=r"3,306 characters, over the limit of 1,000"):
        load_path(LETTER_PDF, max_chars=1000)


@pytest.mark.parametrize("max_chars", [0, -1])
def test_max_chars_must_be_positive(max_chars: int) -> None:
    with pytest.raises(UsageError):
        load_path(LETTER_TXT, max_chars=max_chars)


def _fake_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_load_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_stdin(monkeypatch, LETTER_PDF.read_bytes())
    assert load_stdin() == Letter(load_path(LETTER_PDF).text, None, (), "pdf")


def test_load_stdin_stops_reading_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_stdin(monkeypatch, b"a" * 10_000)
    with pytest.raises(InputTooLargeError, match=r"larger than the limit of 400 bytes") as e:
        load_stdin(max_chars=100)
    # Past the limit a stream's size is unknown: ``size`` is what was read before stopping.
    assert (e.value.limit, e.value.path) == (400, None)
    assert 400 < e.value.size == sys.stdin.buffer.tell() < 10_000


def test_unreadable_paths(tmp_path: Path) -> None:
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    cases = {
        "missing.txt": "cannot read: no such file$",
        "dangling.txt": r"no such file \(broken symbolic link\)",
        ".": "cannot read: is a directory",
    }
    for name, message in cases.items():
        with pytest.raises(InputError, match=message) as caught:
            load_path(tmp_path / name)
        assert type(caught.value) is InputError
        assert caught.value.path == str(tmp_path / name)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied(tmp_path: Path) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_text("Norco")
    locked.chmod(0)
    with pytest.raises(InputError, match="cannot read: permission denied"):
        load_path(locked)


def test_iter_paths_expands_directories(tmp_path: Path) -> None:
    for name in [
        "b.txt",
        "a.PDF",
        "notes.docx",
        ".hidden.txt",
        ".git/x.txt",
        "sub/z.txt",
        "sub/deeper/y.pdf",
        "sub-dir/c.txt",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path)
    root = str(tmp_path)
    inputs = [root, "missing.txt", str(tmp_path / "notes.docx"), "-"]
    assert list(iter_paths(inputs)) == [
        f"{root}/a.PDF",
        f"{root}/b.txt",
        f"{root}/sub/deeper/y.pdf",
        f"{root}/sub/z.txt",
        f"{root}/sub-dir/c.txt",
        "missing.txt",
        f"{root}/notes.docx",
        "-",
    ]
