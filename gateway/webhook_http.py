"""The HTTP/1.1 POST the delivery workers send, on asyncio streams, with kept-alive connections.

What it does and no more: connect to the address ``services.dispatch.egress`` checked (never a name
resolved again here), TLS with the URL's host as server name and certificate name, one POST with
a ``content-length`` body written in one piece, the answer's head read up to ``HEAD_LIMIT`` bytes
and its body up to the caller's cap. Redirects are answers like any other (never followed). Time
bounds are the caller's (``asyncio.timeout`` around ``post``): a connection interrupted anywhere
is closed, never reused. A connection is reused only after a complete, framed answer that did not
ask to close, and only while it stays idle less than ``IDLE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

from services.dispatch.egress import Target

HEAD_LIMIT = 16 * 1024  # bytes of an answer's status line and headers
IDLE_SECONDS = 5.0  # an idle connection older than this is closed, not reused
NO_BODY = frozenset({204, 304})


class ProtocolError(Exception):
    """The receiver's answer is not HTTP/1.x we can read."""


@dataclass(slots=True)
class Answer:
    status: int
    location: str  # the ``location`` header ("" when none)
    body: bytes  # at most the caller's cap


@dataclass(slots=True, eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float) -> bool:
        return (
            now - self.idle_since < IDLE_SECONDS
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()


PoolKey = tuple[str, str, int, str]  # scheme, address, port, host: TLS never shared across hosts


class Client:
    """Connections per checked destination; ``max_idle`` kept per destination."""

    def __init__(self, tls: ssl.SSLContext, max_idle: int) -> None:
        self.tls = tls
        self.max_idle = max_idle
        self._idle: dict[PoolKey, list[_Connection]] = {}
        self._swept = time.monotonic()

    async def post(
        self, target: Target, headers: dict[str, str], body: bytes, body_cap: int
    ) -> Answer:
        request = _request(target, headers, body)
        key = (target.scheme, target.address, target.port, target.host)
        conn = self._take(key) or await self._connect(target)
        try:
            conn.writer.write(request)
            answer, reusable = await _read_answer(conn.reader, body_cap)
        except BaseException:  # timeout, cancel, network or protocol error: never reuse it
            conn.close()
            raise
        if reusable:
            self._give_back(key, conn)
        else:
            conn.close()
        return answer

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    def _take(self, key: PoolKey) -> _Connection | None:
        conns = self._idle.get(key)
        now = time.monotonic()
        while conns:
            conn = conns.pop()  # the most recently used one: the least likely to be closed
            if conn.usable(now):
                return conn
            conn.close()
        return None

    def _give_back(self, key: PoolKey, conn: _Connection) -> None:
        now = time.monotonic()
        if now - self._swept > IDLE_SECONDS:
            self._sweep(now)
        conns = self._idle.setdefault(key, [])
        if len(conns) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = now
        conns.append(conn)

    def _sweep(self, now: float) -> None:
        """Close idle connections gone stale, also those to destinations no longer sent to."""
        self._swept = now
        for key, conns in list(self._idle.items()):
            keep = []
            for conn in conns:
                if conn.usable(now):
                    keep.append(conn)
                else:
                    conn.close()
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    async def _connect(self, target: Target) -> _Connection:
        if target.scheme == "https":
            reader, writer = await asyncio.open_connection(
                target.address,
                target.port,
                ssl=self.tls,
                server_hostname=target.host,  # SNI, and the name the certificate must carry
                limit=HEAD_LIMIT,
            )
        else:
            reader, writer = await asyncio.open_connection(
                target.address, target.port, limit=HEAD_LIMIT
            )
        return _Connection(reader, writer)


def _request(target: Target, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {target.path} HTTP/1.1", f"host: {target.host_header}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} carries a line break")
        lines.append(f"{name}: {value}")
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_answer(reader: asyncio.StreamReader, cap: int) -> tuple[Answer, bool]:
    """The answer, and whether the connection may carry another request."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise ProtocolError(f"answer head longer than {HEAD_LIMIT} bytes") from exc
        status, version, fields = _parse_head(head)
        if not 100 <= status < 200:
            break  # 1xx: an interim answer, the real one follows
    connection = fields.get("connection", "").lower()
    keep = version == "HTTP/1.1" and "close" not in connection
    location = fields.get("location", "")
    if status in NO_BODY:
        return Answer(status, location, b""), keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body, complete = await _read_chunked(reader, cap)
        return Answer(status, location, body), keep and complete
    length_text = fields.get("content-length")
    if length_text is None:  # the body runs until the receiver closes
        return Answer(status, location, await _read_upto(reader, cap)), False
    try:
        length = int(length_text)
    except ValueError as exc:
        raise ProtocolError("bad content-length") from exc
    if length < 0:
        raise ProtocolError("bad content-length")
    if length > cap:
        return Answer(status, location, await reader.readexactly(cap)), False
    return Answer(status, location, await reader.readexactly(length)), keep


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return int(parts[1]), parts[0], fields


async def _read_chunked(reader: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    """Up to ``cap`` bytes of a chunked body; True when the whole body was read."""
    chunks: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise ProtocolError("bad chunk size") from exc
        if length == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, if any
                pass
            return b"".join(chunks), True
        if size + length > cap:
            chunks.append(await reader.readexactly(cap - size))
            return b"".join(chunks), False
        chunks.append(await reader.readexactly(length))
        size += length
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("bad chunk end")


async def _read_upto(reader: asyncio.StreamReader, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = await reader.read(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
