"""The delivery workers' HTTP/1.1 POST against real loopback servers, over TCP and real TLS
(certificates from a test CA made with the openssl command): the checked address is the one
connected to, the URL's host is the TLS name and must match the certificate, connections are reused
only after a complete answer, and answers are read only up to their bounds."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway import webhook_http
from gateway.webhook_http import HEAD_LIMIT, Client, ProtocolError
from services.dispatch.egress import Target

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@dataclass
class RawServer:
    """Answers each request with ``answer(n)`` (raw bytes; n counts requests from 1); records the
    requests, the connections opened and the TLS server names asked for."""

    answer: Callable[[int], bytes]
    tls: ssl.SSLContext | None = None
    close_after_answer: bool = False
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    server_names: list[str | None] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        if self.tls is not None:
            self.tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)  # type: ignore[assignment,misc]
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                self.requests.append(head + await reader.readexactly(length))
                writer.write(self.answer(len(self.requests)))
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., asyncio.Future[RawServer]]]:
    servers: list[RawServer] = []

    async def start(answer: Callable[[int], bytes], **kw: object) -> RawServer:
        server = RawServer(answer, **kw)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in servers:
        await server.stop()


def target(port: int, scheme: str = "http", host: str = "127.0.0.1") -> Target:
    return Target(f"{scheme}://{host}:{port}/hook", scheme, host, port, "/hook", "127.0.0.1")


def plain_client() -> Client:
    return Client(ssl.create_default_context(), max_idle=4)


async def post(client: Client, to: Target, cap: int = 1024) -> tuple[int, bytes]:
    answer = await asyncio.wait_for(client.post(to, {"webhook-id": "msg_1"}, b'{"a":1}', cap), 5)
    return answer.status, answer.body


# --- certificates ---------------------------------------------------------------------------------
@dataclass
class Pki:
    ca: Path
    certs: dict[str, tuple[Path, Path]]  # host name: (certificate, key)

    def server_context(self, name: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.certs[name])
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca = d / "ca.key", d / "ca.pem"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
        "-keyout", str(ca_key), "-out", str(ca),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    certs: dict[str, tuple[Path, Path]] = {}
    for name in ("receiver.example", "other.example"):
        key, csr, cert, ext = (d / f"{name}.{x}" for x in ("key", "csr", "pem", "ext"))
        ext.write_text(
            f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        )
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", str(key), "-out", str(csr),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert),
        )  # fmt: skip
        certs[name] = (cert, key)
    return Pki(ca, certs)


# --- the tests ------------------------------------------------------------------------------------
async def test_https_connects_to_the_checked_address_and_presents_the_urls_host(
    serve: Callable[..., asyncio.Future[RawServer]], pki: Pki
) -> None:
    server = await serve(lambda _: OK, tls=pki.server_context("receiver.example"))
    client = Client(pki.client_context(), max_idle=4)
    # the name does not resolve anywhere: only the checked address is ever connected to
    status, body = await post(client, target(server.port, "https", "receiver.example"))
    client.close()
    assert (status, body) == (200, b"ok")
    assert server.server_names == ["receiver.example"]
    assert f"host: receiver.example:{server.port}\r\n".encode() in server.requests[0]
    assert server.requests[0].startswith(b"POST /hook HTTP/1.1\r\n")
    assert server.requests[0].endswith(b'\r\n\r\n{"a":1}')


async def test_https_refuses_a_certificate_for_another_name(
    serve: Callable[..., asyncio.Future[RawServer]], pki: Pki
) -> None:
    server = await serve(lambda _: OK, tls=pki.server_context("other.example"))
    client = Client(pki.client_context(), max_idle=4)
    with pytest.raises(ssl.SSLCertVerificationError):
        await post(client, target(server.port, "https", "receiver.example"))
    assert server.requests == []


async def test_https_refuses_a_certificate_from_an_unknown_authority(
    serve: Callable[..., asyncio.Future[RawServer]], pki: Pki
) -> None:
    server = await serve(lambda _: OK, tls=pki.server_context("receiver.example"))
    with pytest.raises(ssl.SSLCertVerificationError):
        await post(plain_client(), target(server.port, "https", "receiver.example"))
    assert server.requests == []


async def test_a_kept_alive_connection_carries_the_next_request(
    serve: Callable[..., asyncio.Future[RawServer]],
) -> None:
    server = await serve(lambda _: OK)
    client = plain_client()
    for _ in range(3):
        assert await post(client, target(server.port)) == (200, b"ok")
    client.close()
    assert (len(server.requests), server.connections) == (3, 1)


async def test_an_answer_asking_to_close_is_not_followed_by_another_request_on_it(
    serve: Callable[..., asyncio.Future[RawServer]],
) -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\nok"
    server = await serve(lambda _: answer)
    client = plain_client()
    for _ in range(2):
        assert await post(client, target(server.port)) == (200, b"ok")
    assert (len(server.requests), server.connections) == (2, 2)


async def test_a_connection_the_receiver_closed_while_idle_is_not_reused(
    serve: Callable[..., asyncio.Future[RawServer]],
) -> None:
    server = await serve(lambda _: OK, close_after_answer=True)
    client = plain_client()
    assert await post(client, target(server.port)) == (200, b"ok")
    await asyncio.sleep(0.1)  # the receiver's close arrives while the connection is idle
    assert await post(client, target(server.port)) == (200, b"ok")
    assert server.connections == 2


async def test_a_connection_idle_too_long_is_closed_not_reused(
    serve: Callable[..., asyncio.Future[RawServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_http, "IDLE_SECONDS", 0.05)
    server = await serve(lambda _: OK)
    client = plain_client()
    assert await post(client, target(server.port)) == (200, b"ok")
    await asyncio.sleep(0.1)
    assert await post(client, target(server.port)) == (200, b"ok")
    assert server.connections == 2


async def test_a_chunked_answer_is_read_and_the_connection_reused(
    serve: Callable[..., asyncio.Future[RawServer]],
) -> None:
    chunked = (
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
    )
    server = await serve(lambda _: chunked)
    client = plain_client()
    assert await post(client, target(server.port)) == (202, b"hello world")
    assert await post(client, target(server.port)) == (202, b"hello world")
    assert server.connections == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked", "until-close"])
async def test_a_long_answer_is_kept_only_up_to_the_cap_and_its_connection_dropped(
    serve: Callable[..., asyncio.Future[RawServer]], framing: str
) -> None:
    big = b"x" * 100_000
    if framing == "content-length":
        answer = b"HTTP/1.1 500 Oops\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big)
    elif framing == "chunked":
        answer = b"HTTP/1.1 500 Oops\r\ntransfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (
            len(big),
            big,
        )
    else:
        answer = b"HTTP/1.1 500 Oops\r\n\r\n" + big
    server = await serve(lambda _: answer, close_after_answer=framing == "until-close")
    client = plain_client()
    assert await post(client, target(server.port), cap=64) == (500, b"x" * 64)
    assert await post(client, target(server.port), cap=64) == (500, b"x" * 64)
    assert server.connections == 2


async def test_an_interim_answer_is_skipped(
    serve: Callable[..., asyncio.Future[RawServer]],
) -> None:
    server = await serve(lambda _: b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + OK)
    assert await post(plain_client(), target(server.port)) == (200, b"ok")


async def test_a_redirect_is_an_answer_not_followed(
    serve: Callable[..., asyncio.Future[RawServer]],
) -> None:
    elsewhere = await serve(lambda _: OK)
    redirect = f"HTTP/1.1 307 Go\r\nlocation: http://127.0.0.1:{elsewhere.port}/\r\n"
    server = await serve(lambda _: redirect.encode() + b"content-length: 0\r\n\r\n")
    answer = await plain_client().post(target(server.port), {}, b"{}", 64)
    assert (answer.status, answer.location) == (307, f"http://127.0.0.1:{elsewhere.port}/")
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"x-pad: " + b"a" * HEAD_LIMIT + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: many\r\n\r\n",
    ],
)
async def test_an_answer_that_is_not_http_we_can_read_is_a_protocol_error(
    serve: Callable[..., asyncio.Future[RawServer]], answer: bytes
) -> None:
    server = await serve(lambda _: answer)
    with pytest.raises(ProtocolError):
        await post(plain_client(), target(server.port))


async def test_a_header_value_with_a_line_break_is_never_sent(
    serve: Callable[..., asyncio.Future[RawServer]],
) -> None:
    server = await serve(lambda _: OK)
    with pytest.raises(ValueError, match="line break"):
        await plain_client().post(target(server.port), {"x": "a\r\nx-injected: 1"}, b"{}", 64)
    await asyncio.sleep(0.05)
    assert server.requests == []
