"""The call path's own PostgreSQL connections: a small asyncpg pool for the arrival writer.

A batch of arrivals is one statement in autocommit (``services.calls.arrivals.arrive_many``); run
on a
plain asyncpg connection it costs a bind and an execute of a statement the connection has already
prepared, without the ORM session around it. A connection goes back to the pool as it is (no reset
round trip): the call path never changes a connection's state (no transaction left open, no
LISTEN, no SET); one the server or the network dropped is discarded on its way back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

# One connection per batch written at once (``gateway.call_path.arrival_writer``). Two: a batch held
# up (a lock, a connection the network dropped) leaves the other writing; more only make smaller
# batches, and each batch costs PostgreSQL about as much as one arrival alone.
POOL_SIZE = 2
CONNECT_SECONDS = 2.0
COMMAND_SECONDS = 5.0
# Every statement on these connections finds its rows by an index (the caller's history, the call
# by uniqueid, the policy row by id). Without seq scans the plan a connection caches stays an index
# scan even when it was made while the tables were small (a fresh centre), instead of a full scan
# of a table that has grown since. The arrival statement is planned once per connection (its
# generic plan): planned again for each batch's values it cost PostgreSQL three times the CPU.
SERVER_SETTINGS = {
    "timezone": "UTC",
    "enable_seqscan": "off",
    "plan_cache_mode": "force_generic_plan",
}


def asyncpg_dsn(url: URL | str) -> str:
    """A libpq-style DSN for asyncpg from the SQLAlchemy URL (``postgresql+asyncpg://...``)."""
    if isinstance(url, str):
        from sqlalchemy.engine import make_url

        url = make_url(url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class CallPathPool:
    """Up to ``size`` connections, made on demand (``open`` makes the first few) and kept;
    ``close`` closes them. ``busy`` counts the writers holding or waiting for a connection.

    Deliberately small: asyncpg's own pool wraps every acquire and release in extra tasks, which
    costs the call path more CPU than the statement's own client side."""

    def __init__(self, dsn: str, size: int = POOL_SIZE) -> None:
        self.dsn = dsn
        self.size = size
        self.busy = 0
        self._idle: list[asyncpg.Connection] = []
        self._count = 0  # connections open or being opened
        # arrivals queued for a connection; a waiter given None tries again (one was dropped)
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._closed = False

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_SECONDS,
            command_timeout=COMMAND_SECONDS,
            server_settings=SERVER_SETTINGS,
        )

    async def open(self, count: int = 2) -> None:
        """Make the first connections now (as the first arrivals would)."""
        while len(self._idle) < min(count, self.size) and self._count < self.size:
            self._count += 1
            try:
                connection = await self._connect()
            except BaseException:
                self._count -= 1
                raise
            self._put(connection)

    async def _get(self) -> asyncpg.Connection:
        while True:
            if self._closed:
                raise ConnectionError("the call path's connections are closed")
            while self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self._count -= 1
            if self._count < self.size:
                self._count += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._count -= 1
                    self._wake_one()
                    raise
            waiter: asyncio.Future[asyncpg.Connection | None]
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                connection = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                    self._put(waiter.result())  # handed over as it was cancelled
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
            if connection is not None:
                return connection

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _put(self, connection: asyncpg.Connection) -> None:
        if self._closed or connection.is_closed():
            self._count -= 1
            if not connection.is_closed():
                connection.terminate()
            self._wake_one()  # it may make a new connection in its place
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        self.busy += 1
        try:
            connection = await self._get()
            try:
                yield connection
            except BaseException as exc:
                if not isinstance(exc, asyncpg.PostgresError):
                    # not an error the server reported (a dropped connection, a cancelled or
                    # timed-out statement): the connection's state is unknown, make a new one
                    connection.terminate()
                raise
            finally:
                self._put(connection)
        finally:
            self.busy -= 1

    async def close(self) -> None:
        """Close the idle connections now; the ones in use close as they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        for connection in idle:
            self._count -= 1
            try:
                await asyncio.wait_for(connection.close(), 2)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()
