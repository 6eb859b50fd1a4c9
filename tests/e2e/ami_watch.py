"""A plain AMI listener for tests: logs in like the gateway does and keeps every event, so a test
can check what Asterisk told the gateway (independently of the gateway's own handling)."""

from __future__ import annotations

import asyncio
import contextlib
import time


class AmiWatch:
    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.events: list[dict[str, str]] = []
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        await reader.readline()  # banner
        writer.write(
            (
                f"Action: Login\r\nUsername: {self.username}\r\nSecret: {self.secret}\r\n"
                "Events: on\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        first = await self._read_block(reader)
        if first.get("Response") != "Success":
            raise RuntimeError(f"AMI login refused: {first}")
        self._task = asyncio.create_task(self._read(reader))

    @staticmethod
    async def _read_block(reader: asyncio.StreamReader) -> dict[str, str]:
        block: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("AMI closed")
            text = line.decode(errors="replace").rstrip("\r\n")
            if not text:
                if block:
                    return block
                continue
            key, _, value = text.partition(":")
            block.setdefault(key.strip(), value.strip())

    async def _read(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while True:
                block = await self._read_block(reader)
                if "Event" in block:
                    self.events.append(block)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()

    def named(self, event: str, **match: str) -> list[dict[str, str]]:
        return [
            e
            for e in self.events
            if e.get("Event") == event and all(e.get(k) == v for k, v in match.items())
        ]

    async def wait_for(self, event: str, timeout: float = 30.0, **match: str) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.named(event, **match)
            if found:
                return found[0]
            await asyncio.sleep(0.1)
        raise AssertionError(f"no AMI event {event} {match} within {timeout} s")
