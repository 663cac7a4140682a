"""Collect a Batch round: every answer validated and cross-checked exactly as ``extract`` does.

Each letter's stored answers are replayed through the online code (``replay``): an answer
that passes is kept; one that fails validation yields the re-ask instructor would send, which
goes into the next round's request file; when the re-asks run out the best attempt is used
with the anchors winning, as online. A letter gets its row once every one of its calls (the
whole-letter call, or with strategy ``items`` each item's call and the diagnoses call) is
done; until then only its unfinished calls are asked again.
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from imr_llm.anchors.record import error_extraction, source_info
from imr_llm.batch.files import (
    BatchDir,
    BatchSettings,
    RequestWriter,
    parse_custom_id,
    read_jsonl,
    request_line,
)
from imr_llm.batch.jobs import TERMINAL, current_settings, latest_round
from imr_llm.batch.outcomes import plan, row_or_requests
from imr_llm.batch.results import ResultIndex
from imr_llm.errors import InputError, UsageError
from imr_llm.extraction.cache import NullCache, ResponseCache
from imr_llm.letters.load import Letter
from imr_llm.letters.reader import LetterReader, env_timeout
from imr_llm.models import Extraction, SourceInfo

if TYPE_CHECKING:
    from imr_llm.batch.replay import Answers, Replayer, Requests, Response
    from imr_llm.llm import BatchApi


@dataclass(slots=True)
class Collected:
    """What one collect did: rows finished in its round, re-asks, rows written in all."""

    round: int
    letters: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    bad: list[Extraction] = field(default_factory=list)
    next_requests: int = 0
    written: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Every input has its row."""
        return self.written == self.letters


def collect(
    folder: str | os.PathLike[str],
    out: TextIO,
    *,
    api: BatchApi | None = None,
    round_: int | None = None,
    cache: ResponseCache | None = None,
    pdf_timeout: float | None = None,
) -> Collected:
    """Turn a finished round's answers into rows (all rounds' rows go to ``out``) and re-asks.

    Rows without an error go into ``cache``, as ``extract`` would store them. Letters are read
    again as ``batch prepare`` read them: a PDF that crashes the reader or takes more than
    ``pdf_timeout`` seconds (default: ``IMR_LLM_PDF_TIMEOUT`` or 30) gets a failed row.
    """
    bdir = BatchDir(folder)
    settings = _checked_settings(bdir)
    round_ = round_ or (latest_round(bdir) if bdir.rounds() else 1)
    later = bdir.round_dir(round_ + 1)
    if bdir.submitted(round_ + 1) or bdir.result_files(round_ + 1):
        raise UsageError(f"{later} already went out; collect round {round_ + 1} instead")
    pending = _pending(bdir, round_)
    notes = _fetch(bdir, round_, api) if pending else []
    timeout = env_timeout() if pdf_timeout is None else pdf_timeout
    reader = LetterReader(timeout=timeout, max_chars=settings.max_chars)
    store = cache if cache is not None else NullCache()
    with reader:
        done = _Round(bdir, settings, round_, pending, store, reader).run()
    done.notes = notes
    done.written = _write_rows(bdir, round_, out)
    return done


class _Round:
    """One pass over the manifest: rows for finished letters, re-asks for the others."""

    def __init__(
        self,
        bdir: BatchDir,
        settings: BatchSettings,
        round_: int,
        pending: set[int],
        cache: ResponseCache,
        reader: LetterReader,
    ) -> None:
        from imr_llm.batch.replay import Replayer

        self.bdir, self.settings, self.round, self.pending = bdir, settings, round_, pending
        self.cache, self.reader = cache, reader
        self.results = ResultIndex(bdir, round_, pending)
        self.replayer: Replayer = Replayer(settings.llm)
        self.done = Collected(round_)

    def run(self) -> Collected:
        rows_path = self.bdir.rows_path(self.round)
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        rows_tmp = rows_path.with_name(rows_path.name + ".tmp")
        next_dir = self.bdir.round_dir(self.round + 1)
        next_tmp = next_dir.with_name(next_dir.name + ".tmp")
        shutil.rmtree(next_tmp, ignore_errors=True)
        with open(rows_tmp, "w", encoding="utf-8") as rows, RequestWriter(next_tmp) as writer:
            for entry in read_jsonl(self.bdir.manifest_path):
                self.done.letters += 1
                outcome = self._outcome(entry)
                if isinstance(outcome, Extraction):
                    rows.write(f'{{"index":{entry["index"]},"row":{outcome.model_dump_json()}}}\n')
                    self._count(outcome)
                elif outcome is not None:
                    for call, body in outcome.items():
                        writer.write(request_line(entry["index"], self.round + 1, body, call))
        self.done.next_requests = writer.requests
        shutil.rmtree(next_dir, ignore_errors=True)
        if writer.requests:
            os.replace(next_tmp, next_dir)
        os.replace(rows_tmp, rows_path)
        return self.done

    def _outcome(self, entry: dict[str, Any]) -> Extraction | Requests | None:
        """This round's row or re-asks for the letter; None when it belongs to another round."""
        index = entry["index"]
        if "row" in entry:
            return Extraction.model_validate(entry["row"]) if self.round == 1 else None
        if index not in self.pending:
            return None

        def answers(call: str, n: int) -> Response | None:
            # A call's n-th request went out in round n: each round asks each unfinished
            # call once, so rounds 1..this one hold all its answers so far.
            return self.results.response(index, n, call) if n <= self.round else None

        letter = self._read(entry["file"])
        return _finish(entry, letter, answers, self.replayer, self.cache)

    def _read(self, name: str) -> Letter | InputError:
        # A PDF is parsed in a worker process: one that crashes or hangs fails this row alone.
        try:
            return self.reader.submit(name).result()
        except InputError as exc:
            return exc

    def _count(self, row: Extraction) -> None:
        self.done.statuses[row.status] += 1
        if row.status in ("failed", "not_imr"):
            self.done.bad.append(row)


def _checked_settings(bdir: BatchDir) -> BatchSettings:
    settings = bdir.settings()
    now = current_settings(settings.llm, max_chars=settings.max_chars)
    if (settings.prompt_version, settings.schema) != (now.prompt_version, now.schema):
        raise UsageError(
            f"{bdir.root} was prepared with prompts {settings.prompt_version} and answer schema "
            f"{settings.schema}; this imr-llm has {now.prompt_version} and {now.schema}. "
            "Collect with the imr-llm version that prepared it, or prepare again."
        )
    return settings


def _pending(bdir: BatchDir, round_: int) -> set[int]:
    """Indexes of the letters asked in this round."""
    return {
        parse_custom_id(str(line["custom_id"])).index
        for path in bdir.request_files(round_)
        for line in read_jsonl(path)
    }


def _fetch(bdir: BatchDir, round_: int, api: BatchApi | None) -> list[str]:
    """Download the round's output and error files (vllm run-batch output is used as is).

    Returns a note for each batch that ended without completing."""
    submitted = bdir.submitted(round_)
    fetched = bdir.round_dir(round_) / "fetched"
    if fetched.exists():
        return []
    if not submitted:
        if not bdir.result_files(round_):
            raise UsageError(
                f"round {round_} has no results: run `imr-llm batch submit {bdir.root}`, or put "
                f"`vllm run-batch` output into {bdir.round_dir(round_)}/output-0001.jsonl"
            )
        return []
    if len(submitted) < len(bdir.request_files(round_)):
        raise UsageError(f"round {round_} is only partly submitted: run imr-llm batch submit")
    if api is None:
        raise UsageError(f"round {round_} was submitted: collecting it needs the batch API")
    batches = [(entry, api.retrieve(entry["batch_id"])) for entry in submitted]
    waiting = [
        f"{b.get('id')} {b.get('status')}" for _, b in batches if b["status"] not in TERMINAL
    ]
    if waiting:
        raise UsageError(f"round {round_} is not finished ({', '.join(waiting)}); try later")
    for entry, batch in batches:
        number = entry["file"].removeprefix("requests-")
        for kind, key in (("output", "output_file_id"), ("errors", "error_file_id")):
            target = bdir.round_dir(round_) / f"{kind}-{number}"
            if batch.get(key) and not target.exists():
                part = target.with_name(target.name + ".part")
                api.download(str(batch[key]), part)
                os.replace(part, target)
    fetched.touch()  # later collects of this round need no network
    return [f"{b['id']} ended {b['status']}" for _, b in batches if b["status"] != "completed"]


def _finish(
    entry: dict[str, Any],
    letter: Letter | InputError,
    answers: Answers,
    replayer: Replayer,
    cache: ResponseCache,
) -> Extraction | Requests:
    """The letter's row, or the next request of each of its unfinished calls (re-asks)."""
    source = SourceInfo(path=entry["path"], sha256=entry["sha256"], chars=entry["chars"])
    if isinstance(letter, InputError):
        return error_extraction(letter, source=source)
    if source_info(letter.text, letter.path).sha256 != source.sha256:
        changed = InputError(
            f"{entry['path']} changed after batch prepare (its sha256 differs), so its batch "
            "answers were not used; extract it again",
            path=entry["path"],
        )
        return error_extraction(changed, source=source)
    planned = plan(letter, replayer.settings)
    return row_or_requests(planned, replayer, answers, path=entry["path"], cache=cache)


def _write_rows(bdir: BatchDir, round_: int, out: TextIO) -> int:
    """Every row finished in rounds 1..round_, in input order; how many."""
    count = 0
    for _, row in heapq.merge(*(_indexed(bdir.rows_path(r)) for r in range(1, round_ + 1))):
        out.write(row + "\n")
        count += 1
    out.flush()
    return count


def _indexed(path: Path) -> Iterator[tuple[int, str]]:
    for line in read_jsonl(path):
        yield line["index"], json.dumps(line["row"], ensure_ascii=False, separators=(",", ":"))
