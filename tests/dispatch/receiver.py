"""A real HTTP/1.1 webhook receiver on loopback for the tests (keep-alive, nothing mocked).

It records every request, how many requests for one webhook-id were in flight at once, and
answers with whatever ``respond`` says (200 by default). ``stop()`` closes the port and every open
connection, as a receiver that went down; ``start()`` brings it back on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.conftest import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    def __init__(
        self,
        respond: Callable[[Received], Answer] | None = None,
        delay: float = 0.0,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.respond = respond or (lambda _: Answer())
        self.delay = delay
        self.requests: list[Received] = []
        self.processed: set[str] = set()  # webhook-ids acted on once (the receiver's de-dup)
        self.duplicates = 0
        self.inflight: Counter[str] = Counter()
        self.max_inflight: Counter[str] = Counter()
        self.arrived = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/siaga112"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True, backlog=512
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``predicate()`` holds (the test fails on timeout)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver: condition not met within {timeout} s")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.05)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                received = Received(path, headers, body)
                wid = received.webhook_id
                self.inflight[wid] += 1
                self.max_inflight[wid] = max(self.max_inflight[wid], self.inflight[wid])
                try:
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    answer = self.respond(received)
                finally:
                    self.inflight[wid] -= 1
                self.requests.append(received)
                if 200 <= answer.status < 300:
                    if wid in self.processed:
                        self.duplicates += 1
                    self.processed.add(wid)
                extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                writer.write(
                    f"HTTP/1.1 {answer.status} X\r\ncontent-length: {len(answer.body)}\r\n"
                    f"{extra}\r\n".encode()
                    + answer.body
                )
                self.arrived.set()
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
