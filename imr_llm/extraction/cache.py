"""A content-addressed SQLite cache of LLM extractions, safe across threads and processes."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from pydantic import BaseModel, ValidationError

from imr_llm.errors import UsageError
from imr_llm.models import Extraction

SCHEMA_VERSION = "1"
KEY_VERSION = 1
BUSY_TIMEOUT_S = 30.0

# Connections inherited through fork are parked here, never closed: closing one in the
# child could checkpoint or unlock the parent's database.
_INHERITED: list[sqlite3.Connection] = []

_TABLES = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    extraction TEXT NOT NULL,
    completions TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


class ResponseCache(Protocol):
    """What the extractor needs from a cache; `Cache` and `NullCache` both provide it."""

    def get(self, key: str) -> Extraction | None: ...
    def put(self, key: str, extraction: Extraction, completions: list[str]) -> None: ...
    def completions(self, key: str) -> list[str]: ...
    def __len__(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def cache_key(
    normalized_text: str, *, model: str, mode: str, prompt_version: str, schema_hash: str
) -> str:
    """The sha256 hex key of one request; it never holds credentials or endpoints."""
    parts = {
        "key_version": KEY_VERSION,
        "mode": mode,
        "model": model,
        "prompt_version": prompt_version,
        "schema_hash": schema_hash,
        "text": normalized_text,
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def schema_hash(model_cls: type[BaseModel]) -> str:
    """The first 16 hex chars of the sha256 of a model's canonical JSON schema."""
    canonical = json.dumps(model_cls.model_json_schema(), sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def default_cache_path() -> Path:
    """$IMR_LLM_CACHE_DIR, else $XDG_CACHE_HOME/imr-llm, else ~/.cache/imr-llm; + cache.sqlite."""
    if directory := os.environ.get("IMR_LLM_CACHE_DIR"):
        return Path(directory).expanduser() / "cache.sqlite"
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "imr-llm" / "cache.sqlite"
    return Path.home() / ".cache" / "imr-llm" / "cache.sqlite"


def _create_private(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # SQLite gives the -wal and -shm files the mode of the database file, so creating
    # it 0600 ourselves keeps all three private without touching the process umask.
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o600)


def _ensure_schema(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if row is None or row[0] != SCHEMA_VERSION:
            conn.execute("DROP TABLE IF EXISTS responses")
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )
        conn.execute(_TABLES)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _connect_once(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        _ensure_schema(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _connect(path: Path) -> sqlite3.Connection:
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            return _connect_once(path)
        except sqlite3.OperationalError as e:
            # Switching a new file to WAL needs an exclusive lock and SQLite does not wait
            # for it through busy_timeout, so workers opening a fresh cache together collide.
            if not _is_busy(e) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


class Cache:
    """Final extractions and raw completions keyed by `cache_key`, in one SQLite file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        with self._lock:
            self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            _create_private(self.path)
            self._conn = _connect(self.path)
        except (OSError, sqlite3.Error) as e:
            raise UsageError(
                f"cannot open cache at {self.path}: {e}; use --no-cache or IMR_LLM_CACHE_DIR"
            ) from e
        self._pid = os.getpid()
        return self._conn

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise UsageError(f"cache at {self.path} is closed")
        # A connection inherited through fork must not be used by the child.
        if self._conn is not None and self._pid != os.getpid():
            _INHERITED.append(self._conn)
            self._conn = None
        if self._conn is None:
            return self._open()
        return self._conn

    def get(self, key: str) -> Extraction | None:
        """The stored extraction marked `llm.cached`, or None on a miss or an unreadable row."""
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT extraction FROM responses WHERE key = ?", (key,))
                .fetchone()
            )
        if row is None:
            return None
        try:
            extraction = Extraction.model_validate_json(row[0])
        except (ValidationError, ValueError, TypeError):
            return None
        if extraction.llm is None:
            return extraction
        return extraction.model_copy(
            update={"llm": extraction.llm.model_copy(update={"cached": True})}
        )

    def put(self, key: str, extraction: Extraction, completions: list[str]) -> None:
        """Store (or replace) the final extraction and the raw completions for a key."""
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        values = (key, extraction.model_dump_json(), json.dumps(completions), created_at)
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", values)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def completions(self, key: str) -> list[str]:
        """The raw completion JSON strings stored for a key, or [] on a miss."""
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT completions FROM responses WHERE key = ?", (key,))
                .fetchone()
            )
        try:
            stored = json.loads(row[0]) if row else []
        except (ValueError, TypeError):
            return []
        if not isinstance(stored, list) or not all(isinstance(c, str) for c in stored):
            return []
        return stored

    def __len__(self) -> int:
        with self._lock:
            row = self._connection().execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class NullCache:
    """A cache that stores nothing, for --no-cache."""

    def get(self, key: str) -> Extraction | None:
        """Always a miss."""
        return None

    def put(self, key: str, extraction: Extraction, completions: list[str]) -> None:
        """Discard the extraction."""

    def completions(self, key: str) -> list[str]:
        """Always empty."""
        return []

    def __len__(self) -> int:
        return 0

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
