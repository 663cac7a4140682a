"""The Files and Batches endpoints of an OpenAI-compatible server, for the Batch path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai

from imr_llm.errors import LlmUnavailableError


class BatchApi:
    """The Files and Batches endpoints of an OpenAI-compatible server, for the Batch path."""

    def __init__(self, client: openai.OpenAI) -> None:
        self._client = client

    def upload(self, path: Path) -> str:
        """Upload a request file with purpose "batch"; its file id."""
        with self._errors(), path.open("rb") as fh:
            return self._client.files.create(file=fh, purpose="batch").id

    def create(self, file_id: str, *, metadata: dict[str, str]) -> dict[str, Any]:
        """Start a 24-hour chat-completions batch over an uploaded file."""
        with self._errors():
            batch = self._client.batches.create(
                input_file_id=file_id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata=metadata,
            )
        return batch.model_dump(mode="json")

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        """A batch's current state: status, request counts, output and error file ids."""
        with self._errors():
            return self._client.batches.retrieve(batch_id).model_dump(mode="json")

    def download(self, file_id: str, path: Path) -> None:
        """Stream a file's content to ``path`` (output files can be hundreds of MB)."""
        with self._errors(), self._client.files.with_streaming_response.content(file_id) as body:
            body.stream_to_file(path)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except openai.APIError as exc:
            # Some proxies echo the Authorization header in their error bodies.
            message = f"{type(exc).__name__}: {exc}".replace(self._client.api_key, "<api key>")
            raise LlmUnavailableError(message) from exc


def batch_api(
    *, base_url: str | None = None, api_key: str | None = None, http_client: Any = None
) -> BatchApi:
    """Files and Batches access built like :func:`make_client` (key and URL from the caller)."""
    key = api_key or "sk-no-key-required"
    client = openai.OpenAI(base_url=base_url, api_key=key, timeout=120.0, http_client=http_client)
    return BatchApi(client)
