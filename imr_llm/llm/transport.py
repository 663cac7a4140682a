"""A lean HTTP/1.1 keep-alive transport for the async openai client's JSON requests.

In a bulk run the HTTP exchange is the largest cost of a letter after the model's own work:
httpx's default transport (httpcore over anyio) spends about 1 ms of CPU on each request, on
cancel scopes, locks and event-loop detection that one small POST with a JSON body and a JSON
answer does not need. This transport writes such a request to a pooled asyncio stream and
reads the answer back whole, for about a tenth of that. httpx still builds the request,
decodes the body (gzip included), follows redirects and applies the openai client's
timeouts; openai still authenticates, retries and maps errors. Anything else (a streamed
body such as a file upload, an ``Upgrade``) goes to httpx's own transport. With a proxy set in
the environment the client is the SDK's usual one: httpx reads proxies only for its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import urllib.request
from dataclasses import dataclass, field

import httpx2

# How long an idle connection is kept, as httpx does: servers drop idle ones after a while,
# and a request written to a connection the server has just closed is lost.
KEEPALIVE_EXPIRY = 5.0
MAX_IDLE = 512  # per host, per event loop; beyond it a finished connection is closed
# Bigger than any header block an API sends, and than asyncio's 64 KiB default line limit.
READ_LIMIT = 1 << 20

# A connection belongs to the event loop that opened it, so the loop is part of its key.
Key = tuple[asyncio.AbstractEventLoop, str, str, int]


@dataclass(slots=True)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def usable(self) -> bool:
        expired = time.monotonic() - self.idle_since > KEEPALIVE_EXPIRY
        return not (expired or self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        """Close at once, dropping anything not yet sent (the connection is in an unknown state)."""
        self.writer.transport.abort()


@dataclass(frozen=True, slots=True)
class _Head:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool

    def value(self, name: bytes) -> bytes | None:
        return _header(self.headers, name)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class _Stale(Exception):
    """A kept-alive connection the server had closed before our request reached it."""


def _timeouts(request: httpx2.Request) -> dict[str, float | None]:
    return request.extensions.get("timeout") or {}


def _request_bytes(request: httpx2.Request, body: bytes) -> bytes:
    target = request.url.raw_path
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), target)]
    lines.extend(b"%s: %s" % pair for pair in request.headers.raw)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _parse_head(block: bytes) -> _Head:
    status_line, *lines = block[:-4].split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise httpx2.RemoteProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise httpx2.RemoteProtocolError(f"malformed header line: {line[:80]!r}")
        headers.append((name, value.strip()))
    connection = (_header(headers, b"connection") or b"").lower()
    keep = b"close" not in connection and (version == b"HTTP/1.1" or b"keep-alive" in connection)
    return _Head(int(code), reason, headers, keep)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise httpx2.RemoteProtocolError(f"bad chunk size: {size_line[:40]!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        chunk = await reader.readexactly(size + 2)
        parts.append(chunk[:-2])


async def _read_body(reader: asyncio.StreamReader, head: _Head, method: str) -> tuple[bytes, bool]:
    """The whole body, and whether the connection can carry another request."""
    if method == "HEAD" or head.status in (204, 304):
        return b"", head.keep_alive
    if b"chunked" in (head.value(b"transfer-encoding") or b"").lower():
        return await _read_chunked(reader), head.keep_alive
    length = head.value(b"content-length")
    if length is not None:
        if not length.isdigit():
            raise httpx2.RemoteProtocolError(f"bad Content-Length: {length[:40]!r}")
        return await reader.readexactly(int(length)), head.keep_alive
    return await reader.read(), False  # delimited by the server closing the connection


class LeanTransport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 with kept-alive connections for requests whose body is already in memory."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        fallback: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._ssl = ssl_context
        self._fallback = fallback or httpx2.AsyncHTTPTransport()
        self._idle: dict[Key, list[_Conn]] = {}

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx2.create_ssl_context()
        return self._ssl

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = _memory_body(request)
        if body is None or request.url.scheme not in ("http", "https"):
            return await self._fallback.handle_async_request(request)
        try:
            return await self._send(request, _request_bytes(request, body))
        except httpx2.RequestError as exc:
            exc.request = request
            raise

    async def _send(self, request: httpx2.Request, data: bytes) -> httpx2.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        key: Key = (asyncio.get_running_loop(), url.scheme, url.host, port)
        conn = self._pooled(key)
        if conn is not None:
            try:
                return await self._exchange(conn, key, request, data)
            except _Stale:
                pass  # the server closed it while idle: one fresh connection, as browsers do
        conn = await self._connect(key, request)
        try:
            return await self._exchange(conn, key, request, data)
        except _Stale as exc:
            raise httpx2.RemoteProtocolError(
                "server disconnected without sending a response"
            ) from exc

    def _pooled(self, key: Key) -> _Conn | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def _release(self, key: Key, conn: _Conn) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) >= MAX_IDLE:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def _connect(self, key: Key, request: httpx2.Request) -> _Conn:
        for old in [k for k in self._idle if k[0].is_closed()]:
            del self._idle[old]  # a finished asyncio.run's: they cannot be closed any more
        _, scheme, host, port = key
        tls = self._context() if scheme == "https" else None
        try:
            async with asyncio.timeout(_timeouts(request).get("connect")):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None, limit=READ_LIMIT
                )
        except TimeoutError as exc:
            message = f"connecting to {host}:{port} timed out"
            raise httpx2.ConnectTimeout(message) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx2.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        return _Conn(reader, writer)

    async def _exchange(
        self, conn: _Conn, key: Key, request: httpx2.Request, data: bytes
    ) -> httpx2.Response:
        try:
            head, body, keep = await _round_trip(conn, request, data)
        except BaseException:
            conn.abort()  # unknown state (cancelled, timed out, broken): never reused
            raise
        if keep:
            self._release(key, conn)
        else:
            conn.close()
        return httpx2.Response(
            head.status,
            headers=head.headers,
            stream=httpx2.ByteStream(body),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        self._close_idle()
        await self._fallback.aclose()

    def __del__(self) -> None:
        # Dropped without aclose(), as a client used on the bulk loop (which outlives every
        # run) usually is: close its connections on their own loops, not in the collector.
        with contextlib.suppress(Exception):
            self._close_idle()

    def _close_idle(self) -> None:
        """Close every idle connection, each on the loop that owns it."""
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for (loop, *_), idle in self._idle.items():
            for conn in idle if not loop.is_closed() else ():  # a closed loop's cannot be
                if loop is current:
                    conn.close()
                else:
                    with contextlib.suppress(RuntimeError):  # closed meanwhile
                        loop.call_soon_threadsafe(conn.close)
        self._idle.clear()


def _memory_body(request: httpx2.Request) -> bytes | None:
    """The request body when it is already bytes in memory, else None (httpx's transport)."""
    if not isinstance(request.stream, httpx2.ByteStream) or "upgrade" in request.headers:
        return None
    try:
        return request.content
    except httpx2.RequestNotRead:
        return None


async def _read_head(reader: asyncio.StreamReader) -> _Head:
    try:
        block = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise _Stale() from exc
        raise
    except ConnectionResetError as exc:
        raise _Stale() from exc
    head = _parse_head(block)
    while 100 <= head.status < 200:  # 100 Continue and friends carry no body
        head = _parse_head(await reader.readuntil(b"\r\n\r\n"))
    return head


async def _write(conn: _Conn, request: httpx2.Request, data: bytes) -> None:
    try:
        conn.writer.write(data)
        async with asyncio.timeout(_timeouts(request).get("write")):
            await conn.writer.drain()
    except TimeoutError as exc:
        raise httpx2.WriteTimeout("writing the request timed out") from exc
    except OSError as exc:
        raise _Stale() from exc


async def _round_trip(
    conn: _Conn, request: httpx2.Request, data: bytes
) -> tuple[_Head, bytes, bool]:
    """Send the request and read the whole answer: (head, body, reusable)."""
    await _write(conn, request, data)
    try:
        async with asyncio.timeout(_timeouts(request).get("read")):
            head = await _read_head(conn.reader)
            body, keep = await _read_body(conn.reader, head, request.method)
    except TimeoutError as exc:
        raise httpx2.ReadTimeout("reading the response timed out") from exc
    except asyncio.IncompleteReadError as exc:
        message = "server disconnected mid-response"
        raise httpx2.RemoteProtocolError(message) from exc
    except asyncio.LimitOverrunError as exc:
        message = "response header block or chunk line too large"
        raise httpx2.RemoteProtocolError(message) from exc
    except OSError as exc:
        raise httpx2.ReadError(f"{type(exc).__name__}: {exc}") from exc
    return head, body, keep


def lean_async_client() -> httpx2.AsyncClient:
    """The openai SDK's own async httpx client, on :class:`LeanTransport` unless proxied."""
    import openai

    proxied = {"http", "https", "all"} & set(urllib.request.getproxies())
    if proxied:
        return openai.DefaultAsyncHttpxClient()
    return openai.DefaultAsyncHttpxClient(transport=LeanTransport())


__all__ = ["LeanTransport", "lean_async_client"]
