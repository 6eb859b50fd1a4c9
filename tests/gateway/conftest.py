"""Gateway fixtures: the real FastAGI server on a free loopback port, writing to the test run's
PostgreSQL through its own engine (what the gateway commits is really committed, so every test
uses unique ids of its own)."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from core.names import FlagKind, FlagSource
from core.settings import Settings
from gateway import main
from gateway.ami.consumer import AmiConsumer
from models.call import Call, CallEvent
from models.ticket import Ticket
from tests import agi_client
from tests.conftest import free_port

_sequence = itertools.count(1)


def new_uniqueid() -> str:
    """An Asterisk-style unique id no other test uses."""
    return f"{int(time.time())}.{secrets.randbelow(10**6) * 100 + next(_sequence) % 100}"


def first_time_caller() -> tuple[str, str]:
    """A caller number no other test uses (no history: the normal answer), as dialled and as
    normalised: ``("0813...", "+62813...")``."""
    digits = f"{secrets.randbelow(10**8):08d}"
    return f"0813{digits}", f"+62813{digits}"


def make_settings(database_url: str, state_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "state_dir": state_dir,
        "ami": {"secret": secrets.token_urlsafe(24), "port": free_port()},
        "api": {"jwt_secret": secrets.token_urlsafe(32)},
        "fastagi": {"port": free_port(), "db_bound_seconds": 0.5},
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def agi_call(
    host: str, port: int, env: dict[str, str], **options: Any
) -> agi_client.AgiResult:
    """One session as Asterisk holds it: ``variables`` are what its channel has once the gateway is
    done (``SET VARIABLE`` and ``EXEC MSet`` alike), in the order they were set."""
    return await agi_client.agi_call(host, port, env, **options)


@pytest.fixture(scope="module")
async def gateway(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[main.Gateway]:
    """The gateway's FastAGI side and spool, running (AMI off: those handlers are fed directly)."""
    settings = make_settings(database_url, tmp_path_factory.mktemp("gateway-state"))
    gw = main.build(settings, create_async_engine(database_url, pool_size=5))
    await main.start(gw, with_ami=False)
    yield gw
    await main.stop(gw, grace_seconds=2)


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def flag_by_hand(engine: AsyncEngine, number: str) -> None:
    """A supervisor's prank flag on ``number`` (penalty 3), set a minute ago for an hour."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO caller_flags (caller_number, kind, source, set_by, reason, "
                "priority_penalty, created_at, expires_at) "
                "VALUES (:n, :kind, :source, 'spv', 'iseng', 3, :at, :until)"
            ),
            {
                "n": number,
                "kind": FlagKind.PRANK.value,
                "source": FlagSource.MANUAL.value,
                "at": now - timedelta(minutes=1),
                "until": now + timedelta(hours=1),
            },
        )


async def call_row(engine: AsyncEngine, uniqueid: str) -> Call | None:
    async with AsyncSession(engine) as s:
        return (await s.execute(select(Call).where(Call.uniqueid == uniqueid))).scalar_one_or_none()


async def calls_of(engine: AsyncEngine, uniqueid: str) -> list[Call]:
    async with AsyncSession(engine) as s:
        return list((await s.execute(select(Call).where(Call.uniqueid == uniqueid))).scalars())


async def ticket_row(engine: AsyncEngine, ticket_id: int) -> Ticket | None:
    async with AsyncSession(engine) as s:
        return await s.get(Ticket, ticket_id)


async def timeline(engine: AsyncEngine, uniqueid: str) -> list[str]:
    async with AsyncSession(engine) as s:
        rows = await s.execute(
            select(CallEvent.kind).where(CallEvent.uniqueid == uniqueid).order_by(CallEvent.id)
        )
        return list(rows.scalars())


@pytest.fixture
async def ami(gateway: main.Gateway, tmp_path: Path) -> AsyncIterator[AmiConsumer]:
    """The AMI consumer's handlers and writer, fed events directly (no socket)."""
    settings = gateway.settings.model_copy(
        update={
            "asterisk": gateway.settings.asterisk.model_copy(
                update={"mode": "host", "instance_dir": str(tmp_path)}
            )
        }
    )
    consumer = AmiConsumer(settings, gateway.store, gateway.recordings)
    yield consumer
    await consumer.stop(grace_seconds=5)
