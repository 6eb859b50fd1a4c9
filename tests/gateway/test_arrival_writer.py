"""The gateway's arrival writer (``gateway.call_path.arrival_writer``) on the real database:
arrivals that queue
while a batch is written go together as the next, each still gets its own ticket, and one the store
takes back before any batch holds it is never written."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.timeutil import utcnow
from gateway.call_path.arrival_writer import ArrivalWriter
from gateway.call_path.pg import CallPathPool, asyncpg_dsn
from models import Call, Ticket
from services.calls.facts import CallFact
from tests.gateway.conftest import new_uniqueid


def arrival(uniqueid: str, i: int) -> CallFact:
    return CallFact("arrived", uniqueid, utcnow(), {"caller_number": f"+6281{i:09d}"})


async def count_calls(engine: AsyncEngine, uniqueids: list[str]) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count()).select_from(Call).where(Call.uniqueid.in_(uniqueids))
            )
            or 0
        )


async def test_a_burst_is_written_in_batches_with_a_ticket_for_every_call(
    database_url: str, engine: AsyncEngine
) -> None:
    writer = ArrivalWriter(CallPathPool(asyncpg_dsn(database_url), size=2), max_batch=16)
    uniqueids = [new_uniqueid() for _ in range(100)]
    try:
        entries = [writer.submit(arrival(u, i)) for i, u in enumerate(uniqueids)]
        # the same call's arrival twice in the burst (an Asterisk retry): never in one batch
        again = writer.submit(arrival(uniqueids[0], 0))
        results = await asyncio.gather(*(e.done for e in entries))
        repeated = await again.done
    finally:
        await writer.pool.close()

    assert writer.stats.arrivals == 101
    assert 1 < writer.stats.batches < 101 and writer.stats.largest == 16
    ticket_ids = [r.ticket_id for r in results]
    assert None not in ticket_ids and len(set(ticket_ids)) == 100
    assert repeated.ticket_id == results[0].ticket_id and not repeated.ticket_opened
    assert await count_calls(engine, uniqueids) == 100
    async with engine.connect() as conn:
        tickets = await conn.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.id.in_(ticket_ids))
        )
    assert tickets == 100


async def test_arrivals_one_after_another_are_each_written_at_once(
    database_url: str, engine: AsyncEngine
) -> None:
    """Each arrival submitted as the last one's result comes back (the writer just finishing)
    still finds a writer: none is left waiting for a batch that never comes."""
    writer = ArrivalWriter(CallPathPool(asyncpg_dsn(database_url), size=1))
    uniqueids = [new_uniqueid() for _ in range(20)]
    try:
        async with asyncio.timeout(10):
            for i, uniqueid in enumerate(uniqueids):
                result = await writer.submit(arrival(uniqueid, i)).done
                assert result.ticket_opened
    finally:
        await writer.pool.close()

    assert writer.stats.batches == 20
    assert await count_calls(engine, uniqueids) == 20


async def test_an_arrival_taken_back_before_its_batch_is_never_written(
    database_url: str, engine: AsyncEngine
) -> None:
    writer = ArrivalWriter(CallPathPool(asyncpg_dsn(database_url), size=1), max_batch=4)
    uniqueids = [new_uniqueid() for _ in range(12)]
    try:
        entries = [writer.submit(arrival(u, i)) for i, u in enumerate(uniqueids)]
        assert writer.withdraw(entries[10])  # queued behind two batches: the store spools it
        written = await asyncio.gather(*(e.done for i, e in enumerate(entries) if i != 10))
        assert not writer.withdraw(entries[0])  # already written: too late to take back
    finally:
        await writer.pool.close()

    assert entries[10].done.cancelled()
    assert all(r.ticket_id is not None for r in written)
    assert await count_calls(engine, uniqueids) == 11
    assert await count_calls(engine, [uniqueids[10]]) == 0


async def test_a_failed_batch_fails_each_of_its_arrivals_so_the_store_spools_them(
    database_url: str,
) -> None:
    pool = CallPathPool(asyncpg_dsn(database_url), size=1)
    await pool.open()
    await pool.close()  # the database is out of reach for this writer
    writer = ArrivalWriter(pool)
    entries = [writer.submit(arrival(new_uniqueid(), i)) for i in range(3)]
    outcomes = await asyncio.gather(*(e.done for e in entries), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
