"""imr-llm: California IMR determination letters as typed, verified records."""

from .anchors.finder import Anchor, Anchors, find_anchors
from .anchors.record import anchors_extraction
from .errors import (
    BinaryInputError,
    EmptyInputError,
    ImrLlmError,
    InputError,
    InputTooLargeError,
    LlmError,
    LlmOutputError,
    LlmUnavailableError,
    PdfError,
    UnsupportedFormatError,
    UsageError,
)
from .extraction.cache import Cache, NullCache
from .letters.load import Letter, load_bytes, load_path
from .letters.normalize import Normalized, normalize
from .models import Determination, DisputedItem, Extraction, Guideline

# The LLM stack (openai, instructor) takes most of a second to import; load it on first use
# so that deterministic work (`imr-llm anchors`) starts fast.
_LAZY = {
    "LlmClient": "llm",
    "aextract": "extraction.pipeline",
    "client_from_env": "llm",
    "extract": "extraction.pipeline",
    "extract_many": "bulk.runner",
    "make_client": "llm",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'imr_llm' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "Anchor",
    "Anchors",
    "BinaryInputError",
    "Cache",
    "Determination",
    "DisputedItem",
    "EmptyInputError",
    "Extraction",
    "Guideline",
    "ImrLlmError",
    "InputError",
    "InputTooLargeError",
    "Letter",
    "LlmClient",
    "LlmError",
    "LlmOutputError",
    "LlmUnavailableError",
    "Normalized",
    "NullCache",
    "PdfError",
    "UnsupportedFormatError",
    "UsageError",
    "aextract",
    "anchors_extraction",
    "client_from_env",
    "extract",
    "extract_many",
    "find_anchors",
    "load_bytes",
    "load_path",
    "make_client",
    "normalize",
]
