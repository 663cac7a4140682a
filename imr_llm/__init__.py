"""imr-llm: California IMR determination letters as typed, verified records."""

from .anchors import Anchor, Anchors, find_anchors
from .errors import (
    BinaryInputError,
    EmptyInputError,
    ImrLlmError,
    InputError,
    InputTooLargeError,
    LlmError,
    PdfError,
    UnsupportedFormatError,
    UsageError,
)
from .load import Letter, load_bytes, load_path
from .models import Determination, DisputedItem, Extraction, Guideline
from .normalize import Normalized, normalize
from .record import anchors_extraction

__version__ = "0.1.0"

__all__ = [
    "Anchor",
    "Anchors",
    "BinaryInputError",
    "Determination",
    "DisputedItem",
    "EmptyInputError",
    "Extraction",
    "Guideline",
    "ImrLlmError",
    "InputError",
    "InputTooLargeError",
    "Letter",
    "LlmError",
    "Normalized",
    "PdfError",
    "UnsupportedFormatError",
    "UsageError",
    "anchors_extraction",
    "find_anchors",
    "load_bytes",
    "load_path",
    "normalize",
]
