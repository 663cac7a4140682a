"""The Batch path: request files for the OpenAI Batch API (or `vllm run-batch`), submit, status.

Each request body is what ``extract`` would send first, captured from the online code itself
(see ``replay``): one request per letter with strategy ``letter``; with ``items``, one per
anchored item and one for the diagnoses (a letter whose anchors miss items gets the
whole-letter request, as online). ``collector.collect`` turns the answers into rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imr_llm.anchors.record import anchors_extraction, error_extraction, source_info
from imr_llm.batch.files import (
    MAX_BYTES,
    MAX_REQUESTS,
    BatchDir,
    BatchSettings,
    RequestWriter,
    request_line,
    write_atomic,
)
from imr_llm.batch.outcomes import first_requests, plan
from imr_llm.errors import InputError, UsageError
from imr_llm.extraction.answer import Answer
from imr_llm.extraction.cache import NullCache, ResponseCache, schema_hash
from imr_llm.extraction.pipeline import cached_row
from imr_llm.extraction.prompts import load_prompts
from imr_llm.extraction.settings import LlmSettings
from imr_llm.letters.load import DEFAULT_MAX_CHARS, Letter, iter_paths
from imr_llm.letters.reader import LetterReader, env_timeout

if TYPE_CHECKING:
    from imr_llm.batch.replay import Replayer, Requests
    from imr_llm.llm import BatchApi

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(slots=True)
class Prepared:
    """What prepare wrote."""

    letters: int = 0
    requests: int = 0
    asked: int = 0  # letters with requests
    by_items: int = 0  # of those, letters asked item by item (strategy items)
    cached: int = 0  # letters whose row came from the cache
    files: list[Path] = field(default_factory=list)

    @property
    def without_request(self) -> int:
        """Inputs finished at once: unreadable, not an IMR letter, or in the cache."""
        return self.letters - self.asked


def current_settings(llm: LlmSettings, *, max_chars: int = DEFAULT_MAX_CHARS) -> BatchSettings:
    """Batch settings for this version of the prompts and the answer schema(s)."""
    schema = schema_hash(Answer)
    if llm.strategy == "items":
        from imr_llm.itemwise.row import items_schema_hash

        # A letter whose anchors miss items still gets the whole-letter call: both count.
        schema += f"+{items_schema_hash()}"
    return BatchSettings(llm, load_prompts().version, schema, max_chars)


def prepare(
    inputs: Iterable[str],
    folder: str | os.PathLike[str],
    *,
    settings: LlmSettings | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_requests: int = MAX_REQUESTS,
    max_bytes: int = MAX_BYTES,
    cache: ResponseCache | None = None,
    pdf_timeout: float | None = None,
) -> Prepared:
    """Write round 1's request files and the manifest for ``inputs`` into a new ``folder``.

    A letter whose row ``cache`` holds (from extract, bulk or an earlier collect) gets that
    row at once and no request: nothing is paid for twice. A PDF that crashes the reader or
    takes more than ``pdf_timeout`` seconds (default: ``IMR_LLM_PDF_TIMEOUT`` or 30) gets a
    failed row.
    """
    from imr_llm.batch.replay import Replayer

    bdir = _new_folder(folder)
    batch = current_settings(settings or LlmSettings(), max_chars=max_chars)
    replayer = Replayer(batch.llm)
    store = cache if cache is not None else NullCache()
    done = Prepared()
    manifest: list[str] = []
    limits = {"max_requests": max_requests, "max_bytes": max_bytes}
    timeout = env_timeout() if pdf_timeout is None else pdf_timeout
    reader = LetterReader(timeout=timeout, max_chars=max_chars)
    with RequestWriter(bdir.round_dir(1), **limits) as writer, reader:
        for index, (name, loaded) in enumerate(reader.read(_files(inputs))):
            entry, requests = _entry(index, name, loaded, replayer, store)
            manifest.append(json.dumps(entry, ensure_ascii=False) + "\n")
            for call, body in requests.items():
                writer.write(request_line(index, 1, body, call))
            done.letters += 1
            done.cached += bool(entry.get("cached"))
            if requests:
                done.asked += 1
                done.by_items += "" not in requests  # no whole-letter call
    done.requests, done.files = writer.requests, writer.files
    write_atomic(bdir.manifest_path, manifest)
    # Written last: a folder without batch.json is an interrupted prepare, never half-used.
    write_atomic(bdir.settings_path, [batch.to_json()])
    return done


def _new_folder(folder: str | os.PathLike[str]) -> BatchDir:
    bdir = BatchDir(folder)
    if bdir.root.exists() and any(bdir.root.iterdir()):
        raise UsageError(f"{bdir.root} is not empty; prepare writes into a new folder")
    # The folder will hold every letter's text and the model's answers: owner only.
    bdir.root.mkdir(parents=True, exist_ok=True)
    bdir.root.chmod(0o700)
    return bdir


def _files(inputs: Iterable[str]) -> Iterator[str]:
    for name in iter_paths(inputs):
        if name == "-":
            message = "batch prepare needs files, not stdin: collect reads each letter again"
            raise UsageError(message)
        yield name


def _entry(
    index: int, name: str, letter: Letter | InputError, replayer: Replayer, cache: ResponseCache
) -> tuple[dict[str, Any], Requests]:
    """The manifest entry of one input and the first request of each of its calls (none: its
    row is final)."""
    if isinstance(letter, InputError):
        row = error_extraction(letter, source=source_info("", name))
        return {"index": index, "path": name, "row": row.model_dump(mode="json")}, {}
    entry = {"index": index, **source_info(letter.text, letter.path).model_dump(mode="json")}
    # Collect may run from another working directory.
    entry["file"] = os.path.abspath(name)
    planned = plan(letter, replayer.settings)
    if planned.anchors.format == "not_imr":
        row = anchors_extraction(letter.text, path=letter.path, warnings=letter.warnings)
        return {**entry, "row": row.model_dump(mode="json")}, {}
    hit = cached_row(cache, planned.key, letter.path)
    if hit is not None:
        return {**entry, "row": hit.model_dump(mode="json"), "cached": True}, {}
    return entry, first_requests(planned, replayer)


def latest_round(bdir: BatchDir, *, submitted: bool = False) -> int:
    """The last round with request files (or, with ``submitted``, the last one submitted)."""
    rounds = [r for r in bdir.rounds() if not submitted or bdir.submitted(r)]
    if not rounds:
        what = "submitted" if submitted else "prepared"
        raise UsageError(f"{bdir.root} has no {what} round yet")
    return rounds[-1]


def submit(
    folder: str | os.PathLike[str], api: BatchApi, *, round_: int | None = None
) -> list[dict[str, str]]:
    """Upload a round's request files and start one batch each; ids go to submitted.jsonl."""
    bdir = BatchDir(folder)
    bdir.settings()
    round_ = round_ or latest_round(bdir)
    done = {entry["file"] for entry in bdir.submitted(round_)}
    todo = [path for path in bdir.request_files(round_) if path.name not in done]
    if not todo:
        raise UsageError(f"round {round_} has nothing left to submit (see: imr-llm batch status)")
    entries = []
    for path in todo:
        file_id = api.upload(path)
        label = f"imr-llm {bdir.root.name} round {round_} {path.name}"
        batch = api.create(file_id, metadata={"imr_llm": label[:512]})
        entry = {"file": path.name, "file_id": file_id, "batch_id": str(batch["id"])}
        bdir.add_submitted(round_, entry)
        entries.append(entry)
    return entries


@dataclass(frozen=True, slots=True)
class BatchState:
    """One submitted request file and its batch as the server reports it."""

    file: str
    batch: dict[str, Any]

    @property
    def status(self) -> str:
        """validating, in_progress, finalizing, completed, failed, expired, cancelled..."""
        return str(self.batch.get("status"))

    def describe(self) -> str:
        """One line for people: file, batch id, status, counts."""
        counts = self.batch.get("request_counts") or {}
        done, failed = counts.get("completed", 0), counts.get("failed", 0)
        total = counts.get("total", 0)
        counted = f"{done}/{total} done, {failed} failed"
        return f"{self.file}  {self.batch.get('id')}  {self.status}  {counted}"


def status(
    folder: str | os.PathLike[str], api: BatchApi, *, round_: int | None = None
) -> tuple[int, list[BatchState]]:
    """The round (default: the last submitted) and the state of each of its batches."""
    bdir = BatchDir(folder)
    bdir.settings()
    round_ = round_ or latest_round(bdir, submitted=True)
    states = [BatchState(e["file"], api.retrieve(e["batch_id"])) for e in bdir.submitted(round_)]
    if not states:
        raise UsageError(f"round {round_} has not been submitted (imr-llm batch submit)")
    return round_, states
