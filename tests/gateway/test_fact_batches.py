"""The facts written behind the calls (the AMI consumer's, arrivals answered ahead) go in
batches, one transaction each (``DurableWrites.record_many``,
``services.calls.apply.apply_in_batch``):
the events of a call reach the consoles from the same statements, a late answer still withdraws
the system's ghost classification, and a fact the database refuses costs its batch a trip through
the spool, never the other calls a cool-down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
from panoramisk.message import Message
from sqlalchemy.ext.asyncio import AsyncEngine

from core.names import CallEventKind, Classification, StreamEvent
from core.rows import PgRows
from core.timeutil import utcnow
from gateway.ami.consumer import AmiConsumer
from gateway.main import Gateway
from services import events
from services.calls import apply
from services.calls.facts import CallFact
from tests.gateway.ami_traffic import BASE_TIME, Caller
from tests.gateway.conftest import call_row, first_time_caller, new_uniqueid, ticket_row, until
from tests.gateway.test_ami_facts import arrive, feed
from tests.gateway.test_answer_now import ready
from tests.gateway.test_spool import store_on

T0 = BASE_TIME


async def test_a_calls_facts_go_in_one_batch_and_publish_their_events(
    gateway: Gateway, ami: AmiConsumer, database_url: str, monkeypatch: Any
) -> None:
    caller = Caller(new_uniqueid(), first_time_caller()[0])
    ticket = await arrive(gateway, caller)
    batches = count_batches(gateway, monkeypatch)
    received: list[dict[str, Any]] = []
    listener = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    await listener.add_listener(events.CHANNEL, lambda *a: received.append(json.loads(a[3])))
    try:
        await feed(ami, *caller.answered_call(T0))  # the call taker's hang-up is no fact
        await until(lambda: len([e for e in received if e["data"].get("uniqueid")]) >= 2)
        mine = [e for e in received if e["data"].get("uniqueid") == caller.uniqueid]
    finally:
        await listener.close()

    assert batches == [["queued", "ringing", "answered", "completed", "ended"]]
    assert [e["event"] for e in mine] == [StreamEvent.CALL_ANSWERED, StreamEvent.CALL_ENDED]
    assert mine[0]["data"] == {
        "ticket_id": int(ticket[1:]),
        "number": ticket,
        "uniqueid": caller.uniqueid,
        "calltaker": "ct1",
    }
    assert mine[1]["data"]["number"] == ticket


async def test_an_answer_learned_after_the_hangup_withdraws_the_automatic_ghost(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    caller = Caller(new_uniqueid(), first_time_caller()[0])
    await arrive(gateway, caller)

    await feed(ami, caller.join(T0 + 5), caller.hangup(T0 + 9))
    call = await call_row(engine, caller.uniqueid)
    assert call is not None and call.ticket_id is not None
    ticket = await ticket_row(engine, call.ticket_id)
    assert ticket is not None
    assert (ticket.classification, ticket.classified_by) == (Classification.GHOST, "auto")

    await feed(ami, caller.connect(T0 + 8, hold=3))  # the answer, reported late
    ticket = await ticket_row(engine, call.ticket_id)
    assert ticket is not None and (ticket.classification, ticket.classified_by) == (None, None)


async def test_an_out_of_range_number_from_ami_is_dropped_and_the_rest_of_the_fact_kept(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    caller = Caller(new_uniqueid(), first_time_caller()[0])
    await arrive(gateway, caller)
    join = caller.join(T0 + 5)
    odd = Message({**dict(join), "Position": "99999999999"})

    await feed(ami, odd)

    call = await call_row(engine, caller.uniqueid)
    assert call is not None and call.queued_at is not None and call.queue_position is None
    assert gateway.store.database_ok


async def test_a_fact_the_database_refuses_sends_its_batch_to_the_spool_without_a_cool_down(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = store_on(engine, tmp_path)
    now = utcnow()
    good, other = new_uniqueid(), new_uniqueid()
    refused = new_uniqueid()
    batch = [
        CallFact(CallEventKind.QUEUED.value, good, now, {"queue": "calltakers"}),
        # past the integer column's range: PostgreSQL's driver refuses it
        CallFact(CallEventKind.QUEUED.value, refused, now, {"queue_position": 10**10}),
    ]
    try:
        assert await store.record_many(batch) == [None, None]
        assert store.spool.pending()
        # the database is up: the next facts are written, not spooled
        (result,) = await store.record_many([CallFact(CallEventKind.QUEUED.value, other, now)])
        assert result is not None and result.ticket_id is not None

        # the replay writes the good fact and sets the refused one aside
        assert await store.replay_once() == 2  # both taken off the spool
        assert refused in (tmp_path / "rejected.log").read_text()
        for uniqueid, written in ((good, True), (refused, False), (other, True)):
            assert (await call_row(engine, uniqueid) is not None) is written
    finally:
        await store.drain(1)


def count_batches(gateway: Gateway, monkeypatch: Any) -> list[list[str]]:
    """The kinds of facts in each batch written behind the calls from now on."""
    batches: list[list[str]] = []
    behind = gateway.store.fact_writer
    write = behind._write

    async def counted(facts: list[CallFact]) -> list[Any]:
        batches.append([str(f.kind) for f in facts])
        return await write(facts)

    monkeypatch.setattr(behind, "_write", counted)
    return batches


async def test_an_arrival_answered_ahead_is_written_with_the_calls_next_facts(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine, monkeypatch: Any
) -> None:
    await ready(gateway)
    batches = count_batches(gateway, monkeypatch)
    raw, number = first_time_caller()
    caller = Caller(new_uniqueid(), raw)
    data = {"caller_number": number, "caller_number_raw": raw, "queue": "siaga112"}

    answered = gateway.store.answer_now(
        CallFact(CallEventKind.ARRIVED.value, caller.uniqueid, utcnow(), data)
    )
    await feed(ami, caller.join(T0))  # Asterisk reports the call queued meanwhile

    assert answered is not None and answered.ticket_id is not None
    assert batches == [["arrived", "queued"]]  # one transaction, no write of its own
    call = await call_row(engine, caller.uniqueid)
    assert call is not None and call.ticket_id == answered.ticket_id
    assert call.caller_number == number


async def test_a_batchs_arrivals_go_first_in_one_statement_and_the_rest_in_order(
    database_url: str, monkeypatch: Any
) -> None:
    first, second = new_uniqueid(), new_uniqueid()
    now = utcnow()
    facts = [
        CallFact(CallEventKind.QUEUED.value, first, now, {"queue": "siaga112"}),
        CallFact(CallEventKind.ARRIVED.value, first, now, {"caller_number": "+6281200000001"}),
        CallFact(CallEventKind.ARRIVED.value, second, now, {"caller_number": "+6281200000002"}),
        CallFact(CallEventKind.ARRIVED.value, first, now, {"caller_name": "Warga"}),
    ]
    steps: list[tuple[str, list[str]]] = []

    async def arrive_many(db: Any, batch: list[CallFact]) -> Any:
        steps.append(("arrive_many", [f.uniqueid for f in batch]))
        return await real_arrive_many(db, batch)

    async def apply_fact(db: Any, fact: CallFact) -> Any:
        steps.append((str(fact.kind), [fact.uniqueid]))
        return await real_apply_fact(db, fact)

    real_arrive_many, real_apply_fact = apply.arrive_many, apply.apply_fact
    monkeypatch.setattr(apply, "arrive_many", arrive_many)
    monkeypatch.setattr(apply, "apply_fact", apply_fact)
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        async with connection.transaction():
            results = await apply.apply_in_batch(PgRows(connection), facts)
    finally:
        await connection.close()

    assert steps == [
        ("arrive_many", [first, second]),
        ("queued", [first]),
        ("arrived", [first]),  # a second arrival of the call, in its place
        ("arrive_many", [first]),
    ]
    assert results[0].ticket_id == results[1].ticket_id == results[3].ticket_id
    assert results[2].ticket_id not in (None, results[1].ticket_id)
    assert results[1].ticket_opened and not results[0].ticket_opened
