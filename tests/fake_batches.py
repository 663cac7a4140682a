"""Hand-written test double of the OpenAI Files and Batches endpoints, loopback only.

Not a recording and not a model: it stores uploaded files, walks each batch through
validating -> in_progress -> finalizing -> completed (one step per retrieve), and when a
batch completes it answers every request line with ``answer(custom_id, body)``. Returning
None leaves a request unanswered, and the batch then ends "expired", as real ones do.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Answer = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]] | None]
STEPS = ("validating", "in_progress", "finalizing", "completed")


class FakeBatches:
    """A loopback server with /v1/files and /v1/batches, answering from ``answer``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.log: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def add_file(self, name: str, data: bytes) -> dict[str, Any]:
        """Store a file; its FileObject."""
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = (name, data)
        return _file_object(file_id, name, data)

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        """Start a batch over an uploaded file."""
        with self._lock:
            batch_id = f"batch_{len(self.batches) + 1}"
            self.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": params["endpoint"],
                "input_file_id": params["input_file_id"],
                "completion_window": params["completion_window"],
                "metadata": params.get("metadata"),
                "status": STEPS[0],
                "created_at": 0,
                "output_file_id": None,
                "error_file_id": None,
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
            }
            return dict(self.batches[batch_id])

    def retrieve(self, batch_id: str) -> dict[str, Any] | None:
        """The batch, one step further along."""
        batch = self.batches.get(batch_id)
        if batch is not None and batch["status"] in STEPS[:-1]:
            batch["status"] = STEPS[STEPS.index(batch["status"]) + 1]
            if batch["status"] == "completed":
                self._run(batch)
        return batch

    def _run(self, batch: dict[str, Any]) -> None:
        _, data = self.files[batch["input_file_id"]]
        good: list[str] = []
        bad: list[str] = []
        missing = 0
        for line in data.decode().splitlines():
            request = json.loads(line)
            reply = self.answer(request["custom_id"], request["body"])
            if reply is None:
                missing += 1
                continue
            status, body = reply
            out = {"id": "req", "custom_id": request["custom_id"], "error": None}
            out["response"] = {"status_code": status, "request_id": "r", "body": body}
            (good if status < 400 else bad).append(json.dumps(out) + "\n")
        for key, lines in (("output_file_id", good), ("error_file_id", bad)):
            if lines:
                batch[key] = self.add_file(key, "".join(lines).encode())["id"]
        total = len(good) + len(bad) + missing
        batch["request_counts"] = {"total": total, "completed": len(good), "failed": len(bad)}
        batch["status"] = "expired" if missing else "completed"

    def __enter__(self) -> FakeBatches:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _file_object(file_id: str, name: str, data: bytes) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": 0,
        "filename": name,
        "purpose": "batch",
        "status": "processed",
    }


def _multipart(content_type: str, body: bytes) -> tuple[str, bytes, str]:
    """(filename, data, purpose) from a multipart/form-data upload."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert isinstance(message, email.message.EmailMessage)
    parts = {
        part.get_param("name", header="content-disposition"): part for part in message.iter_parts()
    }
    upload, purpose = parts["file"], parts["purpose"]
    data = upload.get_payload(decode=True)
    assert isinstance(data, bytes)
    return str(upload.get_filename()), data, str(purpose.get_content()).strip()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeBatches


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    server: _Server

    @property
    def fake(self) -> FakeBatches:
        return self.server.fake

    def do_POST(self) -> None:
        self.fake.log.append(f"POST {self.path}")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1/files":
            name, data, purpose = _multipart(self.headers["Content-Type"], raw)
            assert purpose == "batch", purpose
            self._send(200, self.fake.add_file(name, data))
        elif self.path == "/v1/batches":
            self._send(200, self.fake.create(json.loads(raw)))
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_GET(self) -> None:
        self.fake.log.append(f"GET {self.path}")
        if m := re.fullmatch(r"/v1/batches/([\w-]+)", self.path):
            batch = self.fake.retrieve(m[1])
            # Like some proxies, the error echoes the request's Authorization header.
            missing = {"error": {"message": f"no such batch ({self.headers['Authorization']})"}}
            self._send(200 if batch else 404, batch or missing)
        elif (m := re.fullmatch(r"/v1/files/([\w-]+)/content", self.path)) and m[
            1
        ] in self.fake.files:
            self._send(200, self.fake.files[m[1]][1])
        else:
            self._send(404, {"error": {"message": "not found"}})

    def _send(self, status: int, body: dict[str, Any] | bytes) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        kind = "application/octet-stream" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
