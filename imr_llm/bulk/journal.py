"""The bulk output file: append-only JSON Lines that a kill -9 cannot corrupt, and its index.

Every row is written whole with one ``os.write`` on an ``O_APPEND`` descriptor, so a crash
leaves at most a truncated last line, which the next run cuts off before it resumes. A row's
key is its source path (normalized) with the sha256 of its text; an input that could not be
read has the sha256 of the empty string. When a key appears more than once (a --retry-failed
run appends the new row after the failed one), the LAST row counts: the readers here keep
only it, and a finished --retry-failed run compacts the file to one row per key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self, TextIO

from pydantic import ValidationError

from imr_llm.errors import UsageError
from imr_llm.models import Extraction

Key = bytes
OnBadLine = Callable[[int, str], None]

FSYNC_ROWS = 256
FSYNC_SECONDS = 5.0
# The start of every row as pydantic writes it: enough to key a line without parsing it all.
_HEAD = re.compile(
    rb'\{"source":\{"path":(null|"(?:[^"\\]|\\.)*"),"sha256":"([0-9a-f]{64})",'
    rb'"chars":\d+\},"status":"(\w+)"'
)


def open_private(path: str) -> TextIO:
    """``path`` opened for writing text; a new file is readable by its owner only.

    Rows, review pages and reports quote medical records.
    """
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8")


def row_key(path: str | None, sha256: str) -> Key:
    """The identity of a row: the letter's path (normalized) and the hash of its text."""
    name = os.path.normpath(path) if path else ""
    raw = f"{name}\0{sha256}".encode("utf-8", "surrogatepass")
    # 16-byte digests keep the index of a 200,000-row file to a few megabytes.
    return hashlib.blake2b(raw, digest_size=16).digest()


def peek(line: bytes) -> tuple[Key, str] | None:
    """The key and status of one output line, or None when it is not a row."""
    if m := _HEAD.match(line):
        return row_key(json.loads(m[1]), m[2].decode()), sys.intern(m[3].decode())
    try:
        data = json.loads(line)
        return row_key(data["source"]["path"], data["source"]["sha256"]), str(data["status"])
    except (ValueError, KeyError, TypeError):
        return None


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as stream:
        yield from enumerate(stream, 1)


def scan(path: str, on_bad: OnBadLine | None = None) -> Iterator[tuple[int, Key, str]]:
    """Line number, key and status of every row in ``path``; other lines go to ``on_bad``."""
    for number, line in _lines(path):
        found = peek(line) if line.endswith(b"\n") else None
        if found is None:
            if on_bad is not None:
                on_bad(number, "not a complete JSON row")
            continue
        yield number, *found


def _winners(path: str, on_bad: OnBadLine | None) -> set[int]:
    last: dict[Key, int] = {}
    for number, key, _ in scan(path, on_bad):
        last[key] = number
    return set(last.values())


def read_latest(path: str, on_bad: OnBadLine | None = None) -> Iterator[Extraction]:
    """The rows of an output file, only the last one per key, in file order."""
    keep = _winners(path, on_bad)
    for number, line in _lines(path):
        if number not in keep:
            continue
        try:
            yield Extraction.model_validate_json(line)
        except ValidationError as exc:
            if on_bad is not None:
                on_bad(number, f"not a valid row ({exc.error_count()} errors)")


def compact(path: str) -> int:
    """Rewrite ``path`` atomically with only the last row per key; the rows dropped."""
    keep = _winners(path, None)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    dropped = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for number, line in _lines(path):
                # Lines that are not rows are kept: compaction never destroys data it can't read.
                if number in keep or peek(line) is None:
                    out.write(line)
                else:
                    dropped += 1
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, os.stat(path).st_mode & 0o777)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_dir(folder)
    return dropped


def _sync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut_partial_line(path: str, fd: int) -> int:
    """Truncate the file after its last newline; the number of bytes removed."""
    size = os.fstat(fd).st_size
    with open(path, "rb") as stream:
        end = size
        while end > 0:
            start = max(0, end - 65536)
            stream.seek(start)
            chunk = stream.read(end - start)
            if (cut := chunk.rfind(b"\n")) >= 0:
                keep = start + cut + 1
                break
            end = start
        else:
            keep = 0
    if keep < size:
        os.ftruncate(fd, keep)
        os.fsync(fd)
    return size - keep


class Journal:
    """An output file being appended to by one bulk run, with the keys already in it."""

    def __init__(self, path: str, *, retry_failed: bool = False) -> None:
        self.path = path
        self.retry_failed = retry_failed
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"{path} is being written by another imr-llm bulk run") from None
            self.repaired = _cut_partial_line(path, self._fd)
            self.bad_lines: list[int] = []
            self.done = {key: status for _, key, status in scan(path, self._bad)}
        except BaseException:
            os.close(self._fd)
            raise
        self._claimed: set[Key] = set()
        self.replaced = 0
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def _bad(self, number: int, reason: str) -> None:
        self.bad_lines.append(number)

    def status(self, path: str | None, sha256: str) -> str | None:
        """The status of the last row written for this letter, if any."""
        return self.done.get(row_key(path, sha256))

    def claim(self, path: str | None, sha256: str) -> bool:
        """True the first time a letter that still needs a row is seen; False after that."""
        key = row_key(path, sha256)
        status = self.done.get(key)
        if status is not None and not (self.retry_failed and status == "failed"):
            return False
        if key in self._claimed:
            return False
        self._claimed.add(key)
        return True

    def write(self, row: Extraction) -> None:
        """Append one row as a single write; fsync every few hundred rows or seconds."""
        data = (row.model_dump_json() + "\n").encode("utf-8", "surrogatepass")
        key = row_key(row.source.path, row.source.sha256)
        if key in self.done:
            self.replaced += 1
        self.done[key] = sys.intern(row.status)
        view = memoryview(data)
        while view:  # a regular file takes it all at once unless the disk is full
            view = view[os.write(self._fd, view) :]
        self._unsynced += 1
        if self._unsynced >= FSYNC_ROWS or time.monotonic() - self._synced_at >= FSYNC_SECONDS:
            self.sync()

    def sync(self) -> None:
        """Flush written rows to the disk."""
        os.fsync(self._fd)
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def compact(self) -> int:
        """Keep only the last row per key (done while still holding the lock)."""
        self.sync()
        return compact(self.path)

    def close(self) -> None:
        """Sync, unlock and close; closing twice is harmless."""
        if self._fd < 0:
            return
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
