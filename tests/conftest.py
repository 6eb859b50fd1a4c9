"""Shared fixtures: a real PostgreSQL cluster for the whole run, migrated once; each test in its
own transaction that is rolled back."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from core.names import Role
from models.migrate import upgrade
from ops.postgres import LocalPostgres
from services.users.auth import Principal


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of its own for this test run (or ``SIAGA_TEST_DATABASE_URL``'s)."""
    base = Path(tempfile.mkdtemp(prefix="siaga-test-pg-"))
    base.chmod(0o755)
    server = LocalPostgres(base / "data", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop(mode="immediate")


@pytest.fixture(scope="session")
def database_url(postgres: LocalPostgres) -> str:
    url = os.environ.get("SIAGA_TEST_DATABASE_URL") or postgres.url
    upgrade(url)
    return url


_UPSERT_USER = (
    "INSERT INTO users (username, full_name, role, password_hash, agency_id, language, active) "
    "VALUES ($1, $1, $2, '!', $3, 'id', true) ON CONFLICT (username) DO UPDATE "
    "SET role = EXCLUDED.role, agency_id = EXCLUDED.agency_id, active = true RETURNING id"
)


async def _connect(url: str) -> asyncpg.Connection:
    base = make_url(url)
    return await asyncpg.connect(
        host=base.host, port=base.port, user=base.username, password=base.password,
        database=base.database,
    )  # fmt: skip


def user_principal(url: str, role: Role, username: str, agency_id: int | None = None) -> Principal:
    """A principal for a user row made (or updated) now in ``url``'s database: the API refuses
    tokens of users that do not exist. No password can log in as it (``!`` is no hash)."""

    async def upsert() -> int:
        conn = await _connect(url)
        try:
            return int(await conn.fetchval(_UPSERT_USER, username, role.value, agency_id))
        finally:
            await conn.close()

    # in a thread of its own: callable from sync code and from inside a running loop alike
    with ThreadPoolExecutor(1) as pool:
        user_id = pool.submit(asyncio.run, upsert()).result()
    return Principal(user_id=user_id, username=username, role=role, agency_id=agency_id)


async def database_of_its_own(url: str, name: str) -> str:
    """``url`` with database ``name`` on the same server, created and migrated if missing."""
    conn = await _connect(url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    own = make_url(url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, own)
    return own


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    # a connection is checked before use: the fault tests stop and start the server under it
    eng = create_async_engine(database_url, pool_size=5, pool_pre_ping=True)
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session whose commits are savepoints inside a transaction rolled back after the test."""
    async with AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as s:
        yield s
