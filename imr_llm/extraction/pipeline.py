"""extract(text): anchors, one bounded LLM exchange, merge, cache; never loses the work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from imr_llm.anchors.finder import Anchors, find_anchors
from imr_llm.anchors.record import anchors_extraction, source_info
from imr_llm.extraction.answer import Answer
from imr_llm.extraction.cache import Cache, NullCache, ResponseCache, cache_key, schema_hash
from imr_llm.extraction.merge import merge
from imr_llm.extraction.prompts import letter_for_prompt, load_prompts
from imr_llm.letters.normalize import normalize, without_surrogates
from imr_llm.models import ErrorInfo, Extraction, LlmInfo, Usage

if TYPE_CHECKING:
    from pydantic import BaseModel

    from imr_llm.errors import LlmError
    from imr_llm.extraction.settings import LlmSettings
    from imr_llm.itemwise.calls import Outcome
    from imr_llm.llm import CallResult, LlmClient

CacheArg = ResponseCache | Literal["default"] | None


def _cache(cache: CacheArg) -> ResponseCache:
    if cache == "default":
        return Cache()
    return cache if cache is not None else NullCache()


@lru_cache(maxsize=1)
def _answer_schema_hash() -> str:
    return schema_hash(Answer)


def request_key(normalized: str, settings: LlmSettings, strategy: str = "letter") -> str:
    """The cache key of a normalized letter sent with ``settings`` (extract, bulk and batch).

    ``strategy`` is the one actually used for this letter ("items" falls back to "letter").
    """
    s = settings
    mode = f"{s.mode}+schema" if s.json_object_schema else s.mode
    # Length limits and a compact-JSON grammar change what a model writes: a separate entry.
    mode += "+compact" * s.compact_json + "+gbnf" * s.gbnf
    schema = _answer_schema_hash()
    models: tuple[type[BaseModel], ...] = (Answer,)
    if strategy == "items":
        from imr_llm.itemwise.answers import DiagnosesAnswer, ItemAnswer
        from imr_llm.itemwise.row import items_schema_hash

        mode, schema = f"{mode}+items", items_schema_hash()
        models = (ItemAnswer, DiagnosesAnswer)
    if s.compact_json or s.gbnf:
        # The limits and the grammar sent (a change of either is a new entry).
        from imr_llm.llm.client import format_digest

        mode += "+" + format_digest(models, compact=s.compact_json, gbnf=s.gbnf)
    return cache_key(
        normalized,
        model=s.model,
        mode=mode,
        prompt_version=load_prompts().version,
        schema_hash=schema,
    )


def strategy_for(anchors: Anchors, settings: LlmSettings) -> str:
    """The strategy used for one letter: ``items`` only when the anchors hold every item."""
    if settings.strategy != "items":
        return "letter"
    from imr_llm.itemwise.row import items_apply

    return "items" if items_apply(anchors) else "letter"


def cached_row(store: ResponseCache, key: str, path: str | None) -> Extraction | None:
    """The row ``store`` holds for ``key``, as a row of the file at ``path``."""
    hit = store.get(key)
    if hit is None:
        return None
    return hit.model_copy(update={"source": hit.source.model_copy(update={"path": path})})


def best_answer(result: CallResult) -> tuple[Answer | None, bool]:
    """The accepted answer, or else the attempt with the fewest blocking conflicts."""
    if result.answer is not None:
        return result.answer, True
    parsed = [a for a in result.attempts if a.answer is not None]
    if not parsed:
        return None, False
    best = min(reversed(parsed), key=lambda a: a.conflicts)
    return best.answer, False


def build_row(
    text: str,
    anchors: Anchors,
    result: CallResult,
    *,
    model: str,
    path: str | None = None,
    warnings: Sequence[str] = (),
) -> Extraction:
    """The output row from the anchors and one call's attempts (also used by the Batch path)."""
    answer, accepted = best_answer(result)
    merged = merge(text, anchors, answer, accepted=accepted)
    usage = Usage(
        prompt_tokens=sum(a.prompt_tokens for a in result.attempts),
        completion_tokens=sum(a.completion_tokens for a in result.attempts),
    )
    error = result.error if answer is None else None
    notes = [*warnings, *anchors.problems]
    if answer is not None and result.error is not None:
        # A cut-off answer that still parses, or a re-ask that failed, is used but never silently.
        notes.append(f"{result.error.kind}: {result.error}; the best attempt was used")
    return Extraction(
        source=source_info(text, path),
        status="failed" if error else merged.status,
        record=merged.record,
        evidence=merged.evidence,
        discrepancies=merged.discrepancies,
        llm=LlmInfo(
            model=model,
            prompt_version=load_prompts().version,
            attempts=len(result.attempts),
            cached=False,
            usage=usage,
        ),
        error=ErrorInfo(type=error.kind, message=str(error)) if error else None,
        warnings=notes,
    )


def _default_client() -> LlmClient:
    from imr_llm.llm import client_from_env

    return client_from_env()


@dataclass(frozen=True, slots=True)
class _Job:
    """Everything decided before the LLM call."""

    text: str
    anchors: Anchors
    client: LlmClient
    store: ResponseCache
    key: str
    path: str | None
    warnings: Sequence[str]
    letter: str  # as the prompt shows it
    normalized: str
    strategy: str

    def finish(self, result: CallResult, *, raise_on_error: bool) -> Extraction:
        row = build_row(
            self.text,
            self.anchors,
            result,
            model=self.client.model,
            path=self.path,
            warnings=self.warnings,
        )
        return self._keep(row, [a.raw for a in result.attempts], result.error, raise_on_error)

    def finish_items(self, outcome: Outcome, *, raise_on_error: bool) -> Extraction:
        from imr_llm.itemwise.row import build_items_row

        row = build_items_row(
            self.text,
            self.anchors,
            outcome,
            model=self.client.model,
            path=self.path,
            warnings=self.warnings,
        )
        errors = outcome.errors()
        raws = [a.raw for a in outcome.attempts()]
        return self._keep(row, raws, errors[0] if errors else None, raise_on_error)

    def _keep(
        self, row: Extraction, raws: list[str], error: LlmError | None, raise_on_error: bool
    ) -> Extraction:
        if row.error is None:
            self.store.put(self.key, row, raws)
        elif raise_on_error and error is not None:
            raise error
        return row


def _start(
    text: str,
    client: LlmClient | None,
    cache: CacheArg,
    path: str | None,
    warnings: Sequence[str],
) -> Extraction | _Job:
    """The finished row when no call is needed (not a letter, cached), else the job."""
    text = without_surrogates(text)
    normalized = normalize(text)
    anchors = find_anchors(text, normalized)
    if anchors.format == "not_imr":
        return anchors_extraction(text, path=path, warnings=warnings)
    client = client or _default_client()
    store = _cache(cache)
    strategy = strategy_for(anchors, client.settings)
    key = request_key(normalized.text, client.settings, strategy)
    if (hit := cached_row(store, key, path)) is not None:
        return hit
    letter = ""
    if strategy == "letter":
        # Two letters in one input: the model sees only the first, which the anchors read.
        first = normalized if anchors.letter_end is None else normalize(text[: anchors.letter_end])
        letter = letter_for_prompt(first)
    return _Job(
        text, anchors, client, store, key, path, warnings, letter, normalized.text, strategy
    )


def extract(
    text: str,
    *,
    client: LlmClient | None = None,
    cache: CacheArg = "default",
    path: str | None = None,
    warnings: Sequence[str] = (),
    raise_on_error: bool = False,
) -> Extraction:
    """Extract one letter: anchors, LLM with bounded re-asks, merge; cached by content."""
    job = _start(text, client, cache, path, warnings)
    if isinstance(job, Extraction):
        return job
    if job.strategy == "items":
        from imr_llm.itemwise.calls import ask_items

        outcome = ask_items(job.client, job.text, job.normalized, job.anchors)
        return job.finish_items(outcome, raise_on_error=raise_on_error)
    prompts = load_prompts()
    result = job.client.ask(prompts.system, prompts.user, job.letter, job.anchors)
    return job.finish(result, raise_on_error=raise_on_error)


async def aextract(
    text: str,
    *,
    client: LlmClient | None = None,
    cache: CacheArg = "default",
    path: str | None = None,
    warnings: Sequence[str] = (),
    raise_on_error: bool = False,
) -> Extraction:
    """Async twin of :func:`extract`."""
    job = _start(text, client, cache, path, warnings)
    if isinstance(job, Extraction):
        return job
    if job.strategy == "items":
        from imr_llm.itemwise.calls import aask_items

        outcome = await aask_items(job.client, job.text, job.normalized, job.anchors)
        return job.finish_items(outcome, raise_on_error=raise_on_error)
    prompts = load_prompts()
    result = await job.client.aask(prompts.system, prompts.user, job.letter, job.anchors)
    return job.finish(result, raise_on_error=raise_on_error)


__all__ = [
    "aextract",
    "best_answer",
    "build_row",
    "cached_row",
    "extract",
    "request_key",
    "strategy_for",
]
