"""Hand-written OpenAI-compatible test double, loopback only; not a recording.

It scripts HTTP-level faults (5xx, 429, malformed JSON, dropped connections, slow answers)
that a real endpoint cannot be made to produce on demand. Model behaviour belongs in
cassettes recorded against a real server, never here.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from imr_llm.models import HEADER_FIELDS

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"


@dataclass
class Reply:
    """One scripted answer; a None body means a default completion (2xx) or error object."""

    status: int = 200
    body: dict[str, Any] | str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    def payload(self) -> bytes:
        """The response body as bytes."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        if self.body is not None:
            return json.dumps(self.body).encode()
        if self.status < 300:
            return json.dumps(chat_completion("ok")).encode()
        error = {"message": f"fake error {self.status}", "type": "fake_error", "code": None}
        return json.dumps({"error": error}).encode()


Script = list[Reply] | Callable[[dict[str, Any]], Reply] | None


def chat_completion(
    content: str | None = None,
    *,
    tool_args: dict[str, Any] | str | None = None,
    tool_name: str = "Answer",
    finish_reason: str | None = None,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    model: str = "fake",
) -> dict[str, Any]:
    """An OpenAI chat.completion body, with one tool call when ``tool_args`` is given."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_args is not None:
        arguments = tool_args if isinstance(tool_args, str) else json.dumps(tool_args)
        function = {"name": tool_name, "arguments": arguments}
        message["tool_calls"] = [{"id": "call_0", "type": "function", "function": function}]
    default_finish = "stop" if tool_args is None else "tool_calls"
    choice = {"index": 0, "message": message, "finish_reason": finish_reason or default_finish}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{**choice, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeOpenAI:
    """A loopback OpenAI-compatible server answering from a script of replies."""

    def __init__(self, replies: Script = None) -> None:
        self._replies = replies
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # each chat request's headers, in order
        self.in_flight = 0  # chat requests being answered now
        self.most_in_flight = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        """How many chat completion requests arrived."""
        with self._lock:
            return len(self.requests)

    def record(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        """Store one request (body and headers) and pick the reply for it."""
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers or {})
            index = len(self.requests) - 1
        if callable(self._replies):
            return self._replies(body)
        if not self._replies:
            return Reply()
        return self._replies[min(index, len(self._replies) - 1)]

    def busy(self, change: int) -> None:
        """Count a chat request starting (+1) or answered (-1)."""
        with self._lock:
            self.in_flight += change
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _serve(self) -> None:
        # The default 0.5 s poll would add half a second to every test's shutdown.
        self._server.serve_forever(poll_interval=0.01)

    def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the fake shuts down."""
        self._closing.wait(seconds)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _Server(ThreadingHTTPServer):
    """Daemon handler threads, so a slow reply never holds up shutdown."""

    daemon_threads = True
    block_on_close = False
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up on slow or dropped replies are expected, not errors."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == MODELS_PATH:
            models = {"object": "list", "data": [{"id": "fake", "object": "model"}]}
            self._send(Reply(body=models))
        else:
            self._send(Reply(status=404, body={"error": {"message": "not found"}}))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != CHAT_PATH:
            self._send(Reply(status=404, body={"error": {"message": "not found"}}))
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = {"_unparsed": raw.decode(errors="replace")}
        fake = self.server.fake
        reply = fake.record(body, dict(self.headers.items()))
        fake.busy(+1)
        try:
            if reply.delay:
                fake.pause(reply.delay)
            if reply.drop:
                self._reset()
            else:
                self._send(reply)
        finally:
            fake.busy(-1)

    def _send(self, reply: Reply) -> None:
        data = reply.payload()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Close with a TCP reset, as a crashed upstream or proxy would."""
        # SO_LINGER with a zero timeout turns close() into RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


ANSWER_ITEM_FIELDS = (
    "treatment",
    "generic_name",
    "category",
    "subcategory",
    "strength",
    "quantity",
    "summary",
)


def full_answer(items: list[dict[str, Any]], **letter: Any) -> dict[str, Any]:
    """A complete Answer body (every required key present) from the parts a test cares about."""
    body: dict[str, Any] = dict.fromkeys(HEADER_FIELDS)
    body |= {
        "reviewer": {"licensure_states": [], "specialties": []},
        "patient": {"age": None, "sex": None},
        "diagnoses": [],
    }
    body |= letter
    body["items"] = [{**dict.fromkeys(ANSWER_ITEM_FIELDS), "reasons": [], **item} for item in items]
    return body
