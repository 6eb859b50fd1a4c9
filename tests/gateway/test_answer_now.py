"""Answering known of the database (``gateway.call_path.known_callers``,
``DurableWrites.answer_now``): a caller without
triage history gets a ticket number drawn known at once, and the arrival is written behind the
answer; any caller the gateway cannot vouch for waits for the database, as before."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.names import CallEventKind, DialplanVar, TriageCode
from core.timeutil import utcnow
from gateway.call_path.known_callers import KnownCallers
from gateway.call_path.pg import CallPathPool
from gateway.main import Gateway
from services.calls.facts import CallFact
from services.triage.decide import NORMAL_PRIORITY
from tests.agi_client import AgiResult, agi_env
from tests.conftest import free_port
from tests.gateway.conftest import (
    agi_call,
    call_row,
    calls_of,
    flag_by_hand,
    new_uniqueid,
    ticket_row,
    until,
)


def new_number() -> str:
    return "+62813" + f"{secrets.randbelow(10**8):08d}"


async def session(gateway: Gateway, uniqueid: str, number: str | None = None) -> AgiResult:
    fastagi = gateway.settings.fastagi
    return await agi_call(fastagi.host, fastagi.port, agi_env(uniqueid, number or new_number()))


async def flagged_caller(gateway: Gateway, engine: AsyncEngine) -> tuple[KnownCallers, str]:
    """A number flagged by hand, once the gateway's ``KnownCallers`` has heard of it."""
    known = await ready(gateway)
    number = new_number()
    await flag_by_hand(engine, number)
    await until(lambda: known.may_have_history(number))
    return known, number


def ticket_id_of(answer: AgiResult) -> int:
    return int(answer.variables[DialplanVar.TICKET][1:])


async def ready(gateway: Gateway) -> KnownCallers:
    """The gateway's ``KnownCallers``, once it has loaded the numbers with history."""
    known = gateway.store.known_callers
    assert known is not None
    await until(lambda: known.trusted)
    return known


async def test_a_caller_without_history_is_answered_before_the_arrival_is_written(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    await ready(gateway)
    uniqueid = new_uniqueid()
    async with engine.connect() as blocker:
        transaction = await blocker.begin()
        # nothing can be written into the timeline meanwhile: the arrival's write waits
        await blocker.execute(text("LOCK TABLE call_events IN EXCLUSIVE MODE"))
        answer = await asyncio.wait_for(session(gateway, uniqueid), 2)
        assert await call_row(engine, uniqueid) is None  # answered, not written yet
        await transaction.rollback()
    await gateway.store.fact_writer.settled()

    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id == ticket_id_of(answer)
    assert DialplanVar.PRIORITY not in answer.variables  # the normal priority: the default
    ticket = await ticket_row(engine, call.ticket_id)
    assert ticket is not None and ticket.priority == NORMAL_PRIORITY


async def test_history_given_by_a_flag_or_a_classification_reaches_the_gateway_at_once(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    known = await ready(gateway)
    flagged, pranked = new_number(), new_number()
    uniqueid = new_uniqueid()
    answer = await session(gateway, uniqueid, pranked)
    await gateway.store.fact_writer.settled()
    assert not known.may_have_history(flagged) and not known.may_have_history(pranked)

    await flag_by_hand(engine, flagged)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE tickets SET classification = 'prank' WHERE id = :id"),
            {"id": ticket_id_of(answer)},
        )

    await until(lambda: known.may_have_history(flagged) and known.may_have_history(pranked), 2)


async def test_a_caller_with_history_waits_for_the_database_and_is_queued_lower(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    _, number = await flagged_caller(gateway, engine)
    uniqueid = new_uniqueid()

    answer = await session(gateway, uniqueid, number)

    assert answer.variables[DialplanVar.PRIORITY] == str(NORMAL_PRIORITY - 3)
    assert answer.variables[DialplanVar.TRIAGE] == TriageCode.WARN.value
    call = await call_row(engine, uniqueid)  # written before the answer
    assert call is not None and call.ticket_id == ticket_id_of(answer)


async def test_history_the_gateway_has_not_heard_of_yet_still_reaches_the_ticket(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    """The arrival beat the NOTIFY: the queue got the normal priority, the ticket the decision."""
    known, number = await flagged_caller(gateway, engine)
    known.numbers.discard(number)  # as if the NOTIFY were still on its way
    uniqueid = new_uniqueid()

    answer = await session(gateway, uniqueid, number)
    await gateway.store.fact_writer.settled()

    assert DialplanVar.PRIORITY not in answer.variables
    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id == ticket_id_of(answer)
    ticket = await ticket_row(engine, call.ticket_id)
    assert ticket is not None and ticket.priority == NORMAL_PRIORITY - 3 and ticket.triage_note


async def test_while_the_watch_is_down_every_caller_waits_for_the_database(
    gateway: Gateway, engine: AsyncEngine, database_url: str
) -> None:
    known = await ready(gateway)
    assert known._connection is not None
    pid = known._connection.get_server_pid()
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await until(lambda: not known.trusted, 2)
    assert known.may_have_history(new_number())

    uniqueid = new_uniqueid()
    answer = await session(gateway, uniqueid)
    if not known.trusted:  # still down when the call came: it was written before the answer
        call = await call_row(engine, uniqueid)
        assert call is not None and call.ticket_id == ticket_id_of(answer)

    await until(lambda: known.trusted, 10)  # back by itself
    assert not known.may_have_history(new_number())


async def test_an_arrival_answered_ahead_that_cannot_be_written_keeps_its_ticket_through_the_spool(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    await ready(gateway)
    working = gateway.store.facts_pool
    # the connection of the facts written behind the calls goes to a port where no database listens
    gateway.store.facts_pool = CallPathPool(f"postgresql://x@127.0.0.1:{free_port()}/x", size=1)
    uniqueid = new_uniqueid()
    try:
        answer = await session(gateway, uniqueid)
        await gateway.store.fact_writer.settled()
    finally:
        gateway.store.facts_pool = working
    gateway.store._down_until = 0.0  # the database is back before the spool is written back
    # and Asterisk reports the call queued: that fact opens the ticket the caller was given
    queued = await gateway.store.record(
        CallFact(CallEventKind.QUEUED.value, uniqueid, utcnow(), {"queue": "siaga112"})
    )

    assert queued is not None and queued.ticket_id == ticket_id_of(answer)
    assert gateway.store.spool.pending()
    await gateway.store.replay_once()
    calls = await calls_of(engine, uniqueid)
    assert len(calls) == 1 and calls[0].ticket_id == ticket_id_of(answer)
    assert calls[0].caller_number is not None
    ticket = await ticket_row(engine, ticket_id_of(answer))
    assert ticket is not None and ticket.caller_number == calls[0].caller_number
