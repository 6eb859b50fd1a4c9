"""The callers the gateway knows enough about to answer at once, before the arrival is written: most
callers have
no triage history, so their answer (a ticket number, the normal priority) needs no database.

- ``may_have_history(number)``: the numbers with any triage history (``services.triage.decide``'s
``HISTORY_NUMBERS_SQL``) are loaded once, after ``LISTEN`` on ``HISTORY_CHANNEL``, and kept current
by the NOTIFYs of migration 0008's triggers. The set may hold more numbers than have history now (a
reclassified ticket, an expired flag: reloaded every ``RELOAD_SECONDS``), never fewer: a number in
it takes the written path, which reads the history itself. - ``take_ticket_id()``: ticket ids drawn
beforehand from the tickets' sequence, ``DRAW`` at a time. An id drawn and never used (the gateway
stopped) is a gap in ticket numbers, as a rolled-back insert would be.

Both run on one connection of their own. While it is down, or before the set is loaded, nothing is
trusted: every caller takes the written path (``DurableWrites.record``), as if this did not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

import asyncpg

from core.rows import PgRows
from core.timeutil import utcnow
from services.triage.decide import HISTORY_CHANNEL, HISTORY_NUMBERS_SQL, history_numbers_params

log = logging.getLogger(__name__)

DRAW = 100  # ticket ids drawn at once
LOW = 50  # drawn again when fewer are left
KEEPALIVE_SECONDS = 5.0  # a silently dead connection is found within this (plus its timeout)
RELOAD_SECONDS = 3600.0  # numbers whose history aged out leave the set
RETRY_MAX_SECONDS = 5.0
CONNECT_SECONDS = 2.0
COMMAND_SECONDS = 5.0
DRAW_SQL = "SELECT nextval(pg_get_serial_sequence('tickets', 'id')) FROM generate_series(1, $1)"


class KnownCallers:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.numbers: set[str] = set()
        self.trusted = False
        self._ids: deque[int] = deque()
        self._connection: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the connection
        self._drawing: asyncio.Task[None] | None = None
        self._heard_while_loading: set[str] | None = None

    def may_have_history(self, number: str | None) -> bool:
        """False only when the number surely has no triage history (no number: none)."""
        if not self.trusted:
            return True
        return number is not None and number in self.numbers

    def take_ticket_id(self) -> int | None:
        """A ticket id drawn beforehand, or None (none left: the caller takes the written path)."""
        if not self.trusted or not self._ids:
            self._draw_soon()
            return None
        ticket_id = self._ids.popleft()
        if len(self._ids) < LOW:
            self._draw_soon()
        return ticket_id

    def _draw_soon(self) -> None:
        if self._connection is None or self._drawing is not None:
            return
        self._drawing = asyncio.create_task(self._draw())
        self._drawing.add_done_callback(self._drawn)

    def _drawn(self, task: asyncio.Task[None]) -> None:
        self._drawing = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not draw ticket ids: %s", type(task.exception()).__name__)

    async def _draw(self) -> None:
        connection = self._connection
        if connection is None or len(self._ids) >= LOW:
            return
        async with self._lock:
            rows = await connection.fetch(DRAW_SQL, DRAW)
        self._ids.extend(int(r[0]) for r in rows)

    def _heard(self, _connection: Any, _pid: int, _channel: str, number: str) -> None:
        self.numbers.add(number)
        if self._heard_while_loading is not None:
            self._heard_while_loading.add(number)

    async def _load(self, connection: asyncpg.Connection) -> None:
        """The numbers with history now; those heard meanwhile are kept (the set only grows
        between loads, so a number given history during the load is never dropped)."""
        self._heard_while_loading = set()
        try:
            async with self._lock:
                rows = await PgRows(connection).rows(
                    HISTORY_NUMBERS_SQL, history_numbers_params(utcnow())
                )
            self.numbers = {r["caller_number"] for r in rows} | self._heard_while_loading
        finally:
            self._heard_while_loading = None

    async def run(self, stopping: asyncio.Event) -> None:
        """Until ``stopping``: hold the connection, reconnecting with a growing pause."""
        pause = 0.5
        while not stopping.is_set():
            try:
                await self._watch(stopping)
                pause = 0.5
            except Exception as exc:
                if self.trusted or pause == 0.5:
                    log.warning(
                        "caller history watch lost (%s): answers wait for the database",
                        type(exc).__name__,
                    )
            finally:
                self.trusted = False
                await self._disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), pause)
            pause = min(pause * 2, RETRY_MAX_SECONDS)

    async def _watch(self, stopping: asyncio.Event) -> None:
        connection = await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_SECONDS,
            command_timeout=COMMAND_SECONDS,
            server_settings={"timezone": "UTC"},
        )
        self._connection = connection
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _c: lost.set())
        await connection.add_listener(HISTORY_CHANNEL, self._heard)  # before the load: no gap
        await self._load(connection)
        await self._draw()
        self.trusted = True
        log.info("caller history watch ready: %d numbers with history", len(self.numbers))
        loaded = time.monotonic()
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stopping, lost), KEEPALIVE_SECONDS)
            if stopping.is_set():
                return
            if lost.is_set() or connection.is_closed():
                raise ConnectionError("connection closed")
            async with self._lock:
                await connection.fetchval("SELECT 1")
            if time.monotonic() - loaded > RELOAD_SECONDS:
                await self._load(connection)
                loaded = time.monotonic()

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if self._drawing is not None:
            self._drawing.cancel()
        if connection is not None and not connection.is_closed():
            try:
                await asyncio.wait_for(connection.close(), 2)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()


async def _first(*events: asyncio.Event) -> None:
    """Until one of ``events`` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
