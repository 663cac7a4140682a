"""extract(text): anchors, one bounded LLM exchange, merge, cache; never loses the work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from .anchors import Anchors, find_anchors
from .answer import Answer
from .cache import Cache, NullCache, ResponseCache, cache_key, schema_hash
from .errors import ImrLlmError, LlmError
from .merge import merge
from .models import ErrorInfo, Extraction, LlmInfo, Usage
from .normalize import normalize
from .prompts import letter_for_prompt, load_prompts
from .record import anchors_extraction, source_info

if TYPE_CHECKING:
    from .llm import CallResult, LlmClient

CacheArg = ResponseCache | Literal["default"] | None


def _cache(cache: CacheArg) -> ResponseCache:
    if cache == "default":
        return Cache()
    return cache if cache is not None else NullCache()


def _key(text: str, client: LlmClient) -> str:
    s = client.settings
    mode = f"{s.mode}+schema" if s.json_object_schema else s.mode
    return cache_key(
        normalize(text).text,
        model=s.model,
        mode=mode,
        prompt_version=load_prompts().version,
        schema_hash=schema_hash(Answer),
    )


def best_answer(result: CallResult) -> tuple[Answer | None, bool]:
    """The accepted answer, or else the attempt with the fewest blocking conflicts."""
    if result.answer is not None:
        return result.answer, True
    parsed = [a for a in result.attempts if a.answer is not None]
    if not parsed:
        return None, False
    best = min(reversed(parsed), key=lambda a: a.conflicts)
    return best.answer, False


def _row(
    text: str,
    anchors: Anchors,
    result: CallResult,
    client: LlmClient,
    *,
    path: str | None,
    warnings: Sequence[str],
) -> Extraction:
    answer, accepted = best_answer(result)
    merged = merge(text, anchors, answer, accepted=accepted)
    usage = Usage(
        prompt_tokens=sum(a.prompt_tokens for a in result.attempts),
        completion_tokens=sum(a.completion_tokens for a in result.attempts),
    )
    error = result.error if answer is None else None
    return Extraction(
        source=source_info(text, path),
        status="failed" if error else merged.status,
        record=merged.record,
        evidence=merged.evidence,
        discrepancies=merged.discrepancies,
        llm=LlmInfo(
            model=client.model,
            prompt_version=load_prompts().version,
            attempts=len(result.attempts),
            cached=False,
            usage=usage,
        ),
        error=ErrorInfo(type=error.kind, message=str(error)) if error else None,
        warnings=[*warnings, *anchors.problems],
    )


def _finish(
    row: Extraction, result: CallResult, store: ResponseCache, key: str, raise_on_error: bool
) -> Extraction:
    if row.error is None:
        store.put(key, row, [a.raw for a in result.attempts])
    elif raise_on_error and result.error is not None:
        raise result.error
    return row


def _from_cache(store: ResponseCache, key: str, path: str | None) -> Extraction | None:
    hit = store.get(key)
    if hit is None:
        return None
    return hit.model_copy(update={"source": hit.source.model_copy(update={"path": path})})


def _default_client() -> LlmClient:
    from .llm import client_from_env

    return client_from_env()


def _skip_llm(anchors: Anchors) -> bool:
    return anchors.format == "not_imr"


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
    anchors = find_anchors(text)
    if _skip_llm(anchors):
        return anchors_extraction(text, path=path, warnings=warnings)
    client = client or _default_client()
    store = _cache(cache)
    key = _key(text, client)
    if (hit := _from_cache(store, key, path)) is not None:
        return hit
    prompts = load_prompts()
    result = client.ask(prompts.system, prompts.user, letter_for_prompt(text), anchors)
    row = _row(text, anchors, result, client, path=path, warnings=warnings)
    return _finish(row, result, store, key, raise_on_error)


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
    anchors = find_anchors(text)
    if _skip_llm(anchors):
        return anchors_extraction(text, path=path, warnings=warnings)
    client = client or _default_client()
    store = _cache(cache)
    key = _key(text, client)
    if (hit := _from_cache(store, key, path)) is not None:
        return hit
    prompts = load_prompts()
    result = await client.aask(prompts.system, prompts.user, letter_for_prompt(text), anchors)
    row = _row(text, anchors, result, client, path=path, warnings=warnings)
    return _finish(row, result, store, key, raise_on_error)


__all__ = ["ImrLlmError", "LlmError", "aextract", "extract"]
