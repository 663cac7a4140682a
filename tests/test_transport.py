"""The lean HTTP/1.1 transport, against a raw-socket double (tests/raw_http.py) and httpx."""

from __future__ import annotations

import asyncio
import datetime
import gc
import gzip
import ipaddress
import socket
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fake_openai import chat_completion
from raw_http import Answer, RawServer, response

from imr_llm.llm import make_client
from imr_llm.llm.transport import LeanTransport, lean_async_client

T = TypeVar("T")
OK = response(b'{"ok": true}')


def always(answer: Answer) -> Callable[[int, bytes], Answer]:
    return lambda n, request: answer


def run(work: Callable[[httpx2.AsyncClient], Awaitable[T]], **options: Any) -> T:
    async def main() -> T:
        async with httpx2.AsyncClient(transport=LeanTransport(**options), timeout=5) as client:
            return await work(client)

    return asyncio.run(main())


def test_one_connection_carries_every_sequential_request() -> None:
    with RawServer(always(Answer(OK))) as server:

        async def work(client: httpx2.AsyncClient) -> list[Any]:
            return [(await client.post(server.url, json={"n": n})).json() for n in range(5)]

        assert run(work) == [{"ok": True}] * 5
        assert server.connections == 1
        assert [s.data.endswith(b'{"n":%d}' % n) for n, s in enumerate(server.seen)] == [True] * 5


def test_each_event_loop_keeps_its_own_connections() -> None:
    transport = LeanTransport()
    loops = [asyncio.new_event_loop() for _ in range(2)]
    client = httpx2.AsyncClient(transport=transport)
    with RawServer(always(Answer(OK))) as server:
        try:
            for loop in loops * 2:
                assert loop.run_until_complete(client.get(server.url)).status_code == 200
        finally:
            for loop in loops:
                loop.run_until_complete(transport.aclose())
                loop.close()
        assert [s.connection for s in server.seen] == [0, 1, 0, 1]


def test_a_dropped_transport_closes_its_connections_on_their_own_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on the bulk loop, which runs in its own thread and outlives every client used on it.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    warned: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", warned.append)
    with RawServer(always(Answer(OK))) as server:
        client = httpx2.AsyncClient(transport=LeanTransport())
        sent = asyncio.run_coroutine_threadsafe(client.get(server.url), loop)
        assert sent.result(5).status_code == 200
        del client, sent
        gc.collect()
        deadline = time.monotonic() + 5
        while server.closed_by_client < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.closed_by_client == 1
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
    gc.collect()
    assert warned == []


def test_concurrent_requests_open_connections_as_needed_then_reuse_them() -> None:
    with RawServer(always(Answer(OK, hang=0.05))) as server:

        async def work(client: httpx2.AsyncClient) -> None:
            for _ in range(3):
                await asyncio.gather(*(client.post(server.url) for _ in range(8)))

        run(work)
        assert len(server.seen) == 24
        assert server.connections == 8


def test_request_bytes_are_the_ones_httpx_own_transport_writes() -> None:
    with RawServer(always(Answer(OK))) as server:

        async def send(transport: httpx2.AsyncBaseTransport) -> None:
            async with httpx2.AsyncClient(transport=transport) as client:
                body = {"model": "m", "messages": [{"role": "user", "content": "é {x}"}]}
                await client.post(f"{server.url}/v1/chat/completions?a=1", json=body)

        asyncio.run(send(httpx2.AsyncHTTPTransport()))
        asyncio.run(send(LeanTransport()))
        assert len(server.seen) == 2
        assert server.seen[0].data == server.seen[1].data
        assert server.seen[1].data.startswith(b"POST /v1/chat/completions?a=1 HTTP/1.1\r\n")


def test_chunked_and_gzipped_bodies_are_decoded() -> None:
    packed = gzip.compress(b'{"packed": true}')
    chunked = b"5;ext=1\r\n" + b'{"chu' + b"\r\n" + b"8\r\n" + b'nked": 1' + b"\r\n"
    chunked += b"1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n"
    answers = [
        response(chunked, headers=("Transfer-Encoding: chunked",)),
        response(packed, headers=("Content-Encoding: gzip",)),
    ]
    with RawServer(lambda n, request: Answer(answers[n])) as server:

        async def work(client: httpx2.AsyncClient) -> list[Any]:
            return [(await client.get(server.url)).json() for _ in answers]

        assert run(work) == [{"chunked": 1}, {"packed": True}]
        assert server.connections == 1  # both bodies ended where their framing said


def test_bodies_without_length_and_connection_close_are_not_reused() -> None:
    answers = [
        response(b'{"a": 1}', headers=("Connection: close",)),
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"b": 2}',  # ends at close
        response(b"", status="204 No Content", headers=("Content-Length: 0",)),
        OK,
    ]
    with RawServer(lambda n, request: Answer(answers[n], close=n < 2)) as server:

        async def work(client: httpx2.AsyncClient) -> list[int]:
            return [(await client.get(server.url)).status_code for _ in answers]

        assert run(work) == [200, 200, 204, 200]
        assert server.connections == 3  # the 204 and the next answer share one


def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error() -> None:
    # The second request reaches a connection the server drops unanswered, as a server
    # does with one it has just timed out: the transport sends it once more, afresh.
    with RawServer(lambda n, request: Answer(OK if n != 1 else b"", close=n == 1)) as server:

        async def work(client: httpx2.AsyncClient) -> list[int]:
            return [(await client.get(server.url)).status_code for _ in range(2)]

        assert run(work) == [200, 200]
        assert [s.connection for s in server.seen] == [0, 0, 1]


def test_a_fresh_connection_closed_unanswered_is_an_error_not_a_loop() -> None:
    with RawServer(always(Answer(b"", close=True))) as server:
        with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
            run(lambda client: client.get(server.url))
        assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"cut', "mid-response"),
        (b"SMTP ready\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    ],
    ids=["cut-short", "not-http", "bad-header", "bad-length", "bad-chunk"],
)
def test_broken_answers_are_protocol_errors(data: bytes, message: str) -> None:
    with RawServer(always(Answer(data, close=True))) as server:
        with pytest.raises(httpx2.RemoteProtocolError, match=message) as caught:
            run(lambda client: client.get(server.url))
        assert str(caught.value.request.url) == server.url  # the request is attached


def test_a_slow_answer_is_a_read_timeout_and_its_connection_is_dropped() -> None:
    with RawServer(lambda n, request: Answer(OK, hang=3.0 if n == 0 else 0.0)) as server:

        async def work(client: httpx2.AsyncClient) -> int:
            with pytest.raises(httpx2.ReadTimeout):
                await client.get(server.url, timeout=httpx2.Timeout(5, read=0.2))
            return (await client.get(server.url)).status_code

        assert run(work) == 200
        assert server.connections == 2


def test_a_cancelled_request_never_leaves_its_connection_in_the_pool() -> None:
    with RawServer(lambda n, request: Answer(OK, hang=3.0 if n == 0 else 0.0)) as server:

        async def work(client: httpx2.AsyncClient) -> int:
            slow = asyncio.create_task(client.get(server.url))
            await asyncio.sleep(0.2)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            return (await client.get(server.url)).status_code

        assert run(work) == 200
        assert server.connections == 2


def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
        with pytest.raises(httpx2.ConnectError, match="ConnectionRefusedError"):
            run(lambda client: client.get(url))


def test_a_streamed_body_goes_to_the_fallback_transport() -> None:
    class Counting(httpx2.AsyncHTTPTransport):
        calls = 0

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            Counting.calls += 1
            return await super().handle_async_request(request)

    async def parts() -> AsyncIterator[bytes]:
        yield b"a file, "
        yield b"in parts"

    with RawServer(always(Answer(OK))) as server:

        async def work(client: httpx2.AsyncClient) -> None:
            await client.post(server.url, content=parts())
            await client.post(server.url, content=b"in memory")

        run(work, fallback=Counting())
        assert Counting.calls == 1
        assert b"\r\nTransfer-Encoding: chunked\r\n" in server.seen[0].data  # h11 streamed it
        assert server.seen[1].data.endswith(b"\r\n\r\nin memory")


def test_the_openai_client_maps_transport_faults_and_parses_answers() -> None:
    answers = [
        response(json_bytes(chat_completion("hello"))),
        response(b'{"error": {"message": "slow down"}}', status="429 Too Many Requests"),
        b"",
    ]
    with RawServer(lambda n, request: Answer(answers[min(n, 2)], close=n >= 2)) as server:

        async def work(http: httpx2.AsyncClient) -> None:
            client = openai.AsyncOpenAI(
                base_url=server.url + "/v1", api_key="sk-t", max_retries=0, http_client=http
            )
            messages: Any = [{"role": "user", "content": "hi"}]
            answer = await client.chat.completions.create(model="m", messages=messages)
            assert answer.choices[0].message.content == "hello"
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model="m", messages=messages)
            with pytest.raises(openai.APIConnectionError):
                await client.chat.completions.create(model="m", messages=messages)

        run(work)
        assert b"\r\nauthorization: bearer sk-t\r\n" in server.seen[0].data.lower()


def json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_verifies_the_certificate_and_reuses_the_tls_connection(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    with RawServer(always(Answer(OK)), tls=server_side) as server:
        url = server.url.replace("http://127.0.0.1", "https://localhost")

        async def work(client: httpx2.AsyncClient) -> list[int]:
            return [(await client.get(url)).status_code for _ in range(3)]

        assert run(work, ssl_context=trusting) == [200, 200, 200]
        assert server.connections == 1
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            run(lambda client: client.get(url))  # the default trust store has never seen it


def test_make_client_puts_only_the_async_client_on_the_lean_transport() -> None:
    def transport(client: Any) -> Any:
        return client._client._transport

    lean = make_client(model="m", base_url="http://127.0.0.1:9/v1")
    assert isinstance(transport(lean._async), LeanTransport)
    assert not isinstance(transport(lean._sync), LeanTransport)
    assert lean.connection().lean_http
    plain = make_client(model="m", base_url="http://127.0.0.1:9/v1", lean_http=False)
    assert not isinstance(transport(plain._async), LeanTransport)
    assert not plain.connection().lean_http


def test_a_proxy_in_the_environment_keeps_the_sdk_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert not isinstance(lean_async_client()._transport, LeanTransport)
    monkeypatch.delenv("HTTPS_PROXY")
    assert isinstance(lean_async_client()._transport, LeanTransport)
