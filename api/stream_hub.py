"""One LISTEN connection per API process, fanned out to every console's stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.events import CHANNEL

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(1000))


class StreamHub:
    def __init__(self, database_url: str) -> None:
        self._dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="stream-hub")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            log.warning("stream: undecodable event payload dropped")
            return
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(message)
            except asyncio.QueueFull:  # a stuck console must not hold up the others
                log.warning("stream: a subscriber is too slow; event dropped for it")

    async def _listen(self) -> None:
        pause = 0.5
        while True:
            try:
                conn = await asyncpg.connect(self._dsn, timeout=5)
                try:
                    await conn.add_listener(CHANNEL, self._deliver)
                    self.connected.set()
                    log.info("stream: listening on %s", CHANNEL)
                    pause = 0.5
                    closed = asyncio.Event()
                    conn.add_termination_listener(lambda _c, done=closed: done.set())
                    await closed.wait()
                finally:
                    self.connected.clear()
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: retry with backoff
                log.warning(
                    "stream: listener down (%s); retrying in %.1fs", type(exc).__name__, pause
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10)
