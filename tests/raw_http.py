"""Hand-written raw-socket HTTP/1.1 test double, loopback only: scripted bytes, not a recording.

Each request is answered with whatever bytes the test's ``respond`` function returns, so a
test can send chunked or gzipped bodies, close a kept-alive connection, cut an answer short
or never answer, which no real server does on demand.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(frozen=True)
class Seen:
    """One request as it arrived: on which connection (numbered from 0), and its bytes."""

    connection: int
    data: bytes


@dataclass(frozen=True)
class Answer:
    data: bytes  # sent as is
    close: bool = False  # close the connection after sending
    hang: float = 0.0  # seconds to wait before sending


Respond = Callable[[int, bytes], Answer]


def response(
    body: bytes = b"{}", *, status: str = "200 OK", headers: tuple[str, ...] = ()
) -> bytes:
    """An HTTP/1.1 answer with a Content-Length, unless ``headers`` frame the body itself."""
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes, bytes] | None:
    """(request, what followed it) or None when the client closed the connection."""
    while b"\r\n\r\n" not in buffer:
        more = conn.recv(65536)
        if not more:
            return None
        buffer += more
    head, _, rest = buffer.partition(b"\r\n\r\n")
    if b"\r\ntransfer-encoding: chunked" in head.lower():
        while b"\r\n0\r\n\r\n" not in rest:  # a test's chunked bodies hold no such bytes
            if not (more := conn.recv(65536)):
                return None
            rest += more
        body, _, after = rest.partition(b"\r\n0\r\n\r\n")
        return head + b"\r\n\r\n" + body + b"\r\n0\r\n\r\n", after
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        more = conn.recv(65536)
        if not more:
            return None
        rest += more
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


@dataclass
class RawServer:
    respond: Respond
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            number, self.connections = self.connections, self.connections + 1
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()  # the client refused the certificate
                return
        with conn:
            while (got := _read_request(conn, buffer)) is not None:
                request, buffer = got
                self.seen.append(Seen(number, request))
                answer = self.respond(len(self.seen) - 1, request)
                if self._stop.wait(answer.hang):
                    return
                conn.sendall(answer.data)
                if answer.close:
                    return
            self.closed_by_client += 1

    def __enter__(self) -> RawServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._listener.close()
