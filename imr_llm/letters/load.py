"""Turn bytes, files and standard input into letter text, with typed errors for bad input."""

from __future__ import annotations

import codecs
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

from imr_llm.errors import (
    BinaryInputError,
    EmptyInputError,
    InputError,
    InputTooLargeError,
    PdfError,
    UsageError,
)

DEFAULT_MAX_CHARS = 2_000_000
LETTER_SUFFIXES = (".txt", ".pdf")

_HEAD = 1024
_SNIFF = 8192
# UTF-8 needs at most 4 bytes a character, so a bigger text file cannot fit max_chars.
_TEXT_BYTES_PER_CHAR = 4
# PDFs also carry fonts and logos: the dev letters run 6-10 bytes per extracted character.
_PDF_BYTES_PER_CHAR = 32
_MAX_CONTROL_SHARE = 0.05
_NOT_CONTROL = bytes(b for b in range(256) if b >= 0x20 and b != 0x7F) + b"\t\n\f\r"
_SIGNATURES = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"PK\x03\x04", "a ZIP archive (a .docx file?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office document (.doc?)"),
    (b"\x1f\x8b", "gzip-compressed data"),
)


@dataclass(frozen=True, slots=True)
class Letter:
    """The text of one letter, where it came from and what was odd about reading it."""

    text: str
    path: str | None = None
    warnings: tuple[str, ...] = ()
    kind: Literal["text", "pdf"] = "text"


def load_bytes(
    data: bytes, *, path: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> Letter:
    """Decode a letter from raw bytes: a PDF with a text layer or text in a common encoding."""
    if not data:
        raise EmptyInputError("input is empty", path=path)
    limit = _byte_limit(data[:_HEAD], max_chars)
    if len(data) > limit:
        raise _too_many_bytes(len(data), limit, max_chars, path=path)
    kind: Literal["text", "pdf"] = "pdf" if is_pdf(data) else "text"
    text, notes = _pdf_text(data, path) if kind == "pdf" else _decode(data, path)
    if not text.strip():
        raise EmptyInputError("input holds only whitespace", path=path)
    if len(text) > max_chars:
        raise InputTooLargeError(
            f"text is {len(text):,} characters, over the limit of {max_chars:,} (max_chars)",
            size=len(text),
            limit=max_chars,
            path=path,
        )
    return Letter(text=text, path=path, warnings=notes, kind=kind)


def load_path(path: str | os.PathLike[str], *, max_chars: int = DEFAULT_MAX_CHARS) -> Letter:
    """Load a letter from a file, refusing oversized files before reading them."""
    name = os.fspath(path)
    return load_bytes(read_file(name, max_chars=max_chars), path=name, max_chars=max_chars)


def load_stdin(*, max_chars: int = DEFAULT_MAX_CHARS) -> Letter:
    """Load a letter from standard input."""
    return load_bytes(read_stdin(max_chars=max_chars), max_chars=max_chars)


def read_file(name: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> bytes:
    """A letter file's bytes, refused before reading when it cannot fit ``max_chars``."""
    data = _read_file(name, max_chars=max_chars, pdf=True)
    assert data is not None
    return data


def read_unless_pdf(name: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> bytes | None:
    """``read_file``, except that a PDF is read no further than its first kilobyte: None. The
    process that parses it reads it (a worker: the PDF is not sent to it)."""
    return _read_file(name, max_chars=max_chars, pdf=False)


def _read_file(name: str, *, max_chars: int, pdf: bool) -> bytes | None:
    try:
        with open(name, "rb") as stream:
            info = os.fstat(stream.fileno())
            size = info.st_size if stat.S_ISREG(info.st_mode) else None
            return _read(stream, size=size, max_chars=max_chars, path=name, pdf=pdf)
    except OSError as exc:
        raise InputError(_cannot_read(exc, name), path=name) from exc


def read_stdin(*, max_chars: int = DEFAULT_MAX_CHARS) -> bytes:
    """Standard input's bytes, up to the limit for ``max_chars``."""
    if sys.stdin is None:
        raise InputError("cannot read: there is no standard input")
    try:
        data = _read(sys.stdin.buffer, size=None, max_chars=max_chars, path=None)
    except OSError as exc:
        raise InputError(f"cannot read standard input: {exc}") from exc
    assert data is not None
    return data


def is_pdf(data: bytes) -> bool:
    """True when the bytes are a PDF (its header within the first kilobyte)."""
    # Some producers put junk before the header; readers accept it within the first KB.
    return b"%PDF-" in data[:_HEAD]


def iter_paths(inputs: Iterable[str]) -> Iterator[str]:
    """Expand directories into the .txt and .pdf files under them; pass other inputs through."""
    for name in inputs:
        if os.path.isdir(name):
            yield from _walk(name)
        else:
            # Missing or odd paths still go out, so the caller reports a row for each.
            yield name


def _walk(directory: str) -> Iterator[str]:
    """Yield letter files under a directory in name order, skipping hidden entries."""
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        yield directory  # loading it reports why it cannot be read
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        # Symlinked directories are not followed: they can loop or count letters twice.
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path)
        elif entry.name.lower().endswith(LETTER_SUFFIXES):
            yield entry.path


def _read(
    stream: BinaryIO, *, size: int | None, max_chars: int, path: str | None, pdf: bool = True
) -> bytes | None:
    """Read no more than the byte limit, refusing at once when the known size is over it;
    None for a PDF when ``pdf`` is False."""
    head = stream.read(_HEAD)
    if not pdf and is_pdf(head):
        return None
    limit = _byte_limit(head, max_chars)
    if size is not None and size > limit:
        raise _too_many_bytes(size, limit, max_chars, path=path)
    # A read of n bytes allocates n bytes first: ask for the file's size and one byte more (to
    # see it grew), not for the limit (64 MB for a PDF at the default max_chars).
    want = limit + 1 if size is None else size + 1
    data = head + stream.read(max(want - len(head), 0))
    if size is not None and len(data) > size:  # it grew: read on, to the limit
        data += stream.read(max(limit + 1 - len(data), 0))
    if len(data) > limit:
        raise _too_many_bytes(len(data), limit, max_chars, path=path, exact=False)
    return data


def _byte_limit(head: bytes, max_chars: int) -> int:
    if max_chars < 1:
        raise UsageError(f"max_chars must be at least 1, not {max_chars}")
    per_char = _PDF_BYTES_PER_CHAR if is_pdf(head) else _TEXT_BYTES_PER_CHAR
    return per_char * max_chars


def _too_many_bytes(
    size: int, limit: int, max_chars: int, *, path: str | None, exact: bool = True
) -> InputTooLargeError:
    amount = f"is {_human_bytes(size)}, over" if exact else "is larger than"
    message = f"input {amount} the limit of {_human_bytes(limit)} for max_chars={max_chars:,}"
    return InputTooLargeError(message, size=size, limit=limit, path=path)


def _human_bytes(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _cannot_read(exc: OSError, name: str) -> str:
    if isinstance(exc, FileNotFoundError):
        broken = " (broken symbolic link)" if os.path.islink(name) else ""
        return f"cannot read: no such file{broken}"
    if isinstance(exc, IsADirectoryError):
        return "cannot read: is a directory"
    if isinstance(exc, PermissionError):
        return "cannot read: permission denied"
    return f"cannot read: {exc.strerror or exc}"


def _decode(data: bytes, path: str | None) -> tuple[str, tuple[str, ...]]:
    """Decode text as UTF-8, falling back to the Windows and Latin-1 code pages."""
    # Windows "Unicode" text is UTF-16 with a byte order mark; its NULs are not binary.
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), ()
        except UnicodeDecodeError:
            pass
    _reject_binary(data, path)
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), ("decoded as cp1252 (not valid UTF-8)",)
    except UnicodeDecodeError:
        return data.decode("latin-1"), ("decoded as latin-1 (not valid UTF-8 or cp1252)",)


def _reject_binary(data: bytes, path: str | None) -> None:
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            raise BinaryInputError(f"looks like {what}, not a text or PDF letter", path=path)
    if b"\x00" in data:
        raise BinaryInputError("contains NUL bytes: binary data, not text", path=path)
    sample = data[:_SNIFF]
    if len(sample.translate(None, _NOT_CONTROL)) > _MAX_CONTROL_SHARE * len(sample):
        raise BinaryInputError("mostly control characters: binary data, not text", path=path)


def _pdf_text(data: bytes, path: str | None) -> tuple[str, tuple[str, ...]]:
    # PDFium is imported on first use: text-only runs never load it.
    from imr_llm.letters.pdf import pdf_text

    try:
        return pdf_text(data, path)
    except PdfError:
        raise
    # pypdfium2 reports PDFium's failures as PdfiumError, which pdf_text turns into PdfError;
    # anything else from a malformed file means the same to the caller.
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise PdfError(f"cannot parse PDF (truncated or damaged?): {detail}", path=path) from exc
