"""The call path's own connections (``gateway.call_path.pg``) on the real database: bounded in
number,
shared in turn, and a connection the server dropped is replaced rather than handed out again."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from gateway.call_path.pg import CallPathPool, asyncpg_dsn


async def test_arrivals_beyond_the_pool_size_wait_their_turn_on_the_same_connections(
    database_url: str,
) -> None:
    pool = CallPathPool(asyncpg_dsn(database_url), size=2)

    async def one() -> int:
        async with pool.connection() as connection:
            pid: int = await connection.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.01)")
            return pid

    try:
        pids = await asyncio.gather(*(one() for _ in range(10)))
    finally:
        await pool.close()

    assert len(pids) == 10 and len(set(pids)) <= 2
    assert pool.busy == 0


async def test_a_connection_the_server_dropped_is_replaced(database_url: str) -> None:
    pool = CallPathPool(asyncpg_dsn(database_url), size=1)
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with pool.connection() as connection:
            first = await connection.fetchval("SELECT pg_backend_pid()")
        await admin.execute("SELECT pg_terminate_backend($1)", first)
        # the first use after the drop may fail (that arrival goes to the spool) ...
        with contextlib.suppress(Exception):
            async with pool.connection() as connection:
                await connection.fetchval("SELECT 1")
        # ... and the next gets a new connection
        async with pool.connection() as connection:
            second = await connection.fetchval("SELECT pg_backend_pid()")
    finally:
        await admin.close()
        await pool.close()

    assert second != first


async def test_a_closed_pool_refuses_at_once(database_url: str) -> None:
    pool = CallPathPool(asyncpg_dsn(database_url), size=1)
    await pool.open()
    await pool.close()

    try:
        async with pool.connection():
            raise AssertionError("a closed pool handed out a connection")
    except ConnectionError:
        pass
