"""A tiny FastAGI server speaking to the real Asterisk the way a gateway would, for dialplan
tests that must not depend on the gateway: it answers, or freezes (accepts, never answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class AgiStub:
    host: str
    port: int
    mode: str = "answer"  # answer | freeze
    answers: dict[str, str] = field(default_factory=dict)  # variable -> value to SET
    # per-session answers from the AGI environment (overrides ``answers``)
    answer_for: Callable[[dict[str, str]], dict[str, str]] | None = None
    sessions: list[dict[str, str]] = field(default_factory=list)
    _server: asyncio.base_events.Server | None = None
    _frozen: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def stop(self) -> None:
        for writer in self._frozen:
            writer.close()
        self._frozen.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env: dict[str, str] = {}
        while True:
            line = (await reader.readline()).decode().strip()
            if not line:
                break
            key, _, value = line.partition(":")
            env[key.strip()] = value.strip()
        self.sessions.append(env)
        if self.mode == "freeze":
            self._frozen.append(writer)
            return
        answers = self.answer_for(env) if self.answer_for else self.answers
        for name, value in answers.items():
            writer.write(f'SET VARIABLE {name} "{value}"\n'.encode())
            await writer.drain()
            await reader.readline()
        writer.close()
