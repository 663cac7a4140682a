"""A round's answers as the online code expects them: HTTP status and chat.completion body.

Output files can be hundreds of MB, so only the byte offset of each needed line is kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imr_llm.batch.files import BatchDir, RequestId, custom_id, parse_custom_id

Response = tuple[int, dict[str, Any]]


def line_response(line: dict[str, Any]) -> Response:
    """The HTTP answer in one output or error line of the Batch API (or vllm run-batch)."""
    response = line.get("response") or {}
    body = response.get("body")
    if isinstance(body, str):
        body = json.loads(body)
    if isinstance(body, dict):
        return int(response.get("status_code") or 200), body
    error = line.get("error") or {}
    code = str(error.get("code") or "batch_error")
    message = f"{code}: {error.get('message') or 'the batch gave no answer'}"
    return 500, {"error": {"message": message, "type": "batch_error", "code": code}}


def missing_response(index: int, round_: int, call: str = "") -> Response:
    """What a request the batch never answered (expired, cancelled, failed) amounts to."""
    message = (
        f"round {round_} has no result for {custom_id(index, round_, call)} "
        "(its batch expired, failed or was cancelled)"
    )
    return 500, {"error": {"message": message, "type": "batch_error", "code": "missing"}}


class ResultIndex:
    """Where the answers of the given letters sit in rounds 1..round_'s result files."""

    def __init__(self, bdir: BatchDir, round_: int, letters: set[int]) -> None:
        self._where: dict[RequestId, tuple[Path, int]] = {}
        for number in range(1, round_ + 1):
            for path in bdir.result_files(number):
                self._scan(path, letters)

    def _scan(self, path: Path, letters: set[int]) -> None:
        offset = 0
        with open(path, "rb") as fh:
            for raw in fh:
                if raw.strip():
                    request = parse_custom_id(str(json.loads(raw)["custom_id"]))
                    if request.index in letters:
                        self._where[request] = (path, offset)
                offset += len(raw)

    def response(self, index: int, round_: int, call: str = "") -> Response:
        """The answer to letter ``index``'s call ``call`` in round ``round_`` (an error answer
        if there is none)."""
        where = self._where.get(RequestId(index, call, round_))
        if where is None:
            return missing_response(index, round_, call)
        path, offset = where
        with open(path, "rb") as fh:
            fh.seek(offset)
            return line_response(json.loads(fh.readline()))
