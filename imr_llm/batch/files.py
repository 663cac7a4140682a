"""The folder a Batch run lives in: settings, manifest, request files per round, outputs, rows.

    DIR/batch.json                 settings the requests were built with (model, mode, ...)
    DIR/manifest.jsonl             one line per input: index, path, sha256, chars
                                   (or the final row when the input needs no request)
    DIR/round-N/requests-0001.jsonl  OpenAI Batch API request lines (also `vllm run-batch`):
                                   one per letter (strategy letter), or one per focused
                                   call of a letter (strategy items: each item, diagnoses)
    DIR/round-N/submitted.jsonl    file and batch ids, one line per submitted request file
    DIR/round-N/output-0001.jsonl  the batch's output (and errors-0001.jsonl), as downloaded
    DIR/round-N/fetched            present once every batch of the round ended and was fetched
    DIR/round-N/rows.jsonl         {"index", "row"} for every letter finished in round N

Round 1 asks every letter once (each of its calls once); round N+1 holds the re-asks for
answers that failed validation in round N.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from imr_llm.errors import UsageError
from imr_llm.extraction.settings import LlmSettings

MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024
CHAT_URL = "/v1/chat/completions"
_CUSTOM_ID = re.compile(r"imr-(\d+)(?:-([a-z]+\d+))?-r(\d+)")


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """What collect needs to rebuild the online path exactly as prepare saw it."""

    llm: LlmSettings
    prompt_version: str
    schema: str
    max_chars: int

    def to_json(self) -> str:
        """The settings as indented JSON."""
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BatchSettings:
        """Settings read back from :meth:`to_json`."""
        data = json.loads(text)
        return cls(**{**data, "llm": LlmSettings(**data["llm"])})


@dataclass(frozen=True, slots=True)
class RequestId:
    """What a request answers: letter ``index``'s call ``call`` in round ``round``."""

    index: int
    call: str  # "" for the whole-letter call; "item0", "item1", ..., "diagnoses0" (items)
    round: int


def custom_id(index: int, round_: int, call: str = "") -> str:
    """The request id of letter ``index``'s call ``call`` in round ``round_``."""
    return f"imr-{index:07d}-{call}-r{round_}" if call else f"imr-{index:07d}-r{round_}"


def parse_custom_id(value: str) -> RequestId:
    """The letter, call and round of a request id; UsageError for ids this tool did not write."""
    match = _CUSTOM_ID.fullmatch(value)
    if match is None:
        raise UsageError(f"custom_id {value!r} was not written by imr-llm batch prepare")
    return RequestId(int(match[1]), match[2] or "", int(match[3]))


def request_line(index: int, round_: int, body: dict[str, Any], call: str = "") -> str:
    """One JSONL request line of the OpenAI Batch API (and of `vllm run-batch`)."""
    line = {
        "custom_id": custom_id(index, round_, call),
        "method": "POST",
        "url": CHAT_URL,
        "body": body,
    }
    return json.dumps(line, ensure_ascii=False) + "\n"


class BatchDir:
    """Paths and small files of one batch folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.settings_path = self.root / "batch.json"
        self.manifest_path = self.root / "manifest.jsonl"

    def settings(self) -> BatchSettings:
        """The settings written by prepare; UsageError when this is no batch folder."""
        if not self.settings_path.is_file():
            raise UsageError(f"{self.root} is not a batch folder (no batch.json): run prepare")
        return BatchSettings.from_json(self.settings_path.read_text(encoding="utf-8"))

    def round_dir(self, round_: int) -> Path:
        """The folder of one round."""
        return self.root / f"round-{round_}"

    def rounds(self) -> list[int]:
        """Every round that has request files, in order."""
        found = (re.fullmatch(r"round-(\d+)", p.name) for p in self.root.glob("round-*"))
        return sorted(int(m[1]) for m in found if m and self.request_files(int(m[1])))

    def request_files(self, round_: int) -> list[Path]:
        """The request files of a round, in order."""
        return sorted(self.round_dir(round_).glob("requests-*.jsonl"))

    def result_files(self, round_: int) -> list[Path]:
        """Downloaded (or `vllm run-batch`-written) output and error files of a round."""
        folder = self.round_dir(round_)
        return sorted([*folder.glob("output-*.jsonl"), *folder.glob("errors-*.jsonl")])

    def submitted(self, round_: int) -> list[dict[str, str]]:
        """One entry per submitted request file: file, file_id, batch_id."""
        return list(read_jsonl(self.round_dir(round_) / "submitted.jsonl"))

    def add_submitted(self, round_: int, entry: dict[str, str]) -> None:
        """Record a submitted file at once, so a failed submit can resume."""
        with open(self.round_dir(round_) / "submitted.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    def rows_path(self, round_: int) -> Path:
        """Where collect keeps the rows finished in a round."""
        return self.round_dir(round_) / "rows.jsonl"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Objects from a JSON Lines file (none if it does not exist)."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_atomic(path: Path, lines: Iterable[str]) -> None:
    """Write lines to ``path`` through a temporary file, so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    os.replace(tmp, path)


class RequestWriter:
    """Request files of one round, split at ``max_requests`` lines or ``max_bytes`` bytes."""

    def __init__(
        self, folder: Path, *, max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES
    ) -> None:
        if max_requests < 1 or max_bytes < 1:
            raise UsageError("the request and byte limits per file must be positive")
        self.folder = folder
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.files: list[Path] = []
        self.requests = 0
        self._fh: Any = None
        self._lines = 0
        self._bytes = 0

    def write(self, line: str) -> None:
        """Add one request line, starting a new file when this one is full."""
        data = line.encode("utf-8")
        full = self._lines >= self.max_requests or self._bytes + len(data) > self.max_bytes
        if self._fh is None or (full and self._lines):
            self._next_file()
        self._fh.write(data)
        self._lines += 1
        self._bytes += len(data)
        self.requests += 1

    def _next_file(self) -> None:
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"requests-{len(self.files) + 1:04d}.jsonl"
        self.files.append(path)
        self._fh = open(path, "wb")  # noqa: SIM115 -- closed in close()
        self._lines = self._bytes = 0

    def close(self) -> None:
        """Close the current file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RequestWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
