"""Exceptions raised by imr-llm.

    ImrLlmError
    ├── InputError               the input cannot be read as a letter (carries ``path``)
    │   ├── EmptyInputError          empty or whitespace-only
    │   ├── BinaryInputError         bytes that are neither text nor PDF
    │   ├── InputTooLargeError       over the size limit (carries ``size`` and ``limit``)
    │   ├── PdfError                 a PDF that is broken or has no text layer
    │   └── UnsupportedFormatError   an IMR letter in a layout we recognise but cannot parse
    ├── UsageError               the library or CLI was called wrongly
    └── LlmError                 the model or the network failed (carries ``attempts``)
        ├── LlmUnavailableError      no answer: connection, timeout, 429/5xx after the retries
        └── LlmOutputError           answers came back, but none could be parsed at all

Input and LLM errors become an ``error`` object in the output row; only ``UsageError``
is meant to reach the caller as an exception by default.
"""

from __future__ import annotations

from typing import Any


class ImrLlmError(Exception):
    """Root of every error imr-llm raises on purpose."""

    @property
    def kind(self) -> str:
        """The name written into an output row's ``error.type``."""
        return type(self).__name__

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (the PDF reader's workers). Exception's own pickling
        # calls the class with the message alone, which fails for keyword-only attributes.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[ImrLlmError], args: tuple[Any, ...], state: dict[str, Any]) -> ImrLlmError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InputError(ImrLlmError):
    """The input cannot be read as a letter."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class EmptyInputError(InputError):
    """The input is empty or holds only whitespace."""


class BinaryInputError(InputError):
    """The input is binary data that is not a PDF."""


class InputTooLargeError(InputError):
    """The input is larger than the configured limit."""

    def __init__(self, message: str, *, size: int, limit: int, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.size = size
        self.limit = limit


class PdfError(InputError):
    """The PDF cannot be parsed or has no text layer."""


class UnsupportedFormatError(InputError):
    """An IMR letter in a known older layout that imr-llm cannot parse reliably."""


class UsageError(ImrLlmError):
    """The library or the command line was called with bad arguments."""


class LlmError(ImrLlmError):
    """The model or the network failed."""

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class LlmUnavailableError(LlmError):
    """The endpoint could not be reached or kept failing after the transport retries."""


class LlmOutputError(LlmError):
    """The endpoint answered, but no answer could be parsed (truncated or malformed)."""
