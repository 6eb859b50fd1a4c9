"""The FastAGI route ``incoming`` over a real TCP connection, spoken to as Asterisk does."""

from __future__ import annotations

import asyncio
import json
import secrets

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.names import (
    CallEventKind,
    DialplanVar,
    StreamEvent,
    TriageCode,
)
from gateway.call_path import fastagi
from gateway.call_path.incoming import commands_for, variables_of
from gateway.main import Gateway
from services.events import CHANNEL
from services.triage.decide import NORMAL_PRIORITY
from tests.agi_client import agi_env
from tests.gateway.conftest import (
    agi_call,
    call_row,
    calls_of,
    first_time_caller,
    flag_by_hand,
    new_uniqueid,
    ticket_row,
    timeline,
    until,
)


def recording_of(uniqueid: str) -> str:
    return f"2026/11/23/{uniqueid}.wav"


async def incoming(gateway: Gateway, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """One session; returns once the arrivals answered so far are written (behind the answer)."""
    fastagi = gateway.settings.fastagi
    answer = await agi_call(fastagi.host, fastagi.port, env)
    await gateway.store.fact_writer.settled()
    return answer


async def test_a_call_opens_one_ticket_and_the_dialplan_gets_its_number(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    uniqueid = new_uniqueid()
    raw, number = first_time_caller()

    answer = await incoming(
        gateway,
        agi_env(
            uniqueid,
            raw,
            recording=recording_of(uniqueid),
            extra={"agi_calleridname": "Budi"},
        ),
    )

    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id is not None
    assert answer.variables[DialplanVar.TICKET] == f"T{call.ticket_id:06d}"
    assert answer.variables[DialplanVar.CALLER] == number
    # both in one command: one round trip to Asterisk
    assert answer.commands == [
        f"EXEC MSet SIAGA_TICKET=T{call.ticket_id:06d},SIAGA_CALLER={number}"
    ]
    # defaults the dialplan already holds are not sent again
    assert DialplanVar.PRIORITY not in answer.variables
    assert DialplanVar.TRIAGE not in answer.variables
    assert call.caller_number == number
    assert call.caller_number_raw == raw
    assert call.caller_name == "Budi"
    assert call.dialled == "112"
    assert call.channel and call.channel.startswith("PJSIP/carrier-")
    assert call.recording_path == recording_of(uniqueid)
    assert call.arrived_at is not None and call.outcome == "in_progress"
    ticket = await ticket_row(engine, call.ticket_id)
    assert ticket is not None and ticket.caller_number == number
    assert ticket.state == "new" and ticket.priority == 5
    assert await timeline(engine, uniqueid) == [CallEventKind.ARRIVED]


async def test_the_same_call_asked_twice_keeps_one_ticket(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    uniqueid = new_uniqueid()
    env = agi_env(uniqueid, "+6281298765432")

    first = await incoming(gateway, env)
    second = await incoming(gateway, env)
    racing = await asyncio.gather(*(incoming(gateway, env) for _ in range(5)))

    numbers = {first.variables[DialplanVar.TICKET], second.variables[DialplanVar.TICKET]}
    numbers |= {r.variables[DialplanVar.TICKET] for r in racing}
    assert len(numbers) == 1
    assert len(await calls_of(engine, uniqueid)) == 1


async def test_two_calls_racing_get_two_tickets(gateway: Gateway, engine: AsyncEngine) -> None:
    ids = [new_uniqueid() for _ in range(10)]

    answers = await asyncio.gather(*(incoming(gateway, agi_env(u)) for u in ids))

    assert len({a.variables[DialplanVar.TICKET] for a in answers}) == 10


async def test_a_caller_flagged_by_hand_is_queued_lower_after_the_warning(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    number = "+62812" + f"{secrets.randbelow(10**8):08d}"
    await flag_by_hand(engine, number)
    known = gateway.store.known_callers
    assert known is not None
    await until(lambda: known.may_have_history(number))  # the flag's NOTIFY has arrived
    uniqueid = new_uniqueid()

    answer = await incoming(gateway, agi_env(uniqueid, number))

    assert answer.variables[DialplanVar.PRIORITY] == str(NORMAL_PRIORITY - 3)
    assert answer.variables[DialplanVar.TRIAGE] == TriageCode.WARN.value
    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id is not None
    assert call.queue_priority == NORMAL_PRIORITY - 3
    ticket = await ticket_row(engine, call.ticket_id)
    assert ticket is not None and ticket.priority == NORMAL_PRIORITY - 3
    assert ticket.triage_note
    assert await timeline(engine, uniqueid) == [CallEventKind.ARRIVED]


async def test_a_withheld_caller_still_gets_a_ticket(gateway: Gateway, engine: AsyncEngine) -> None:
    uniqueid = new_uniqueid()

    answer = await incoming(gateway, agi_env(uniqueid, "anonymous"))

    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id is not None
    assert answer.variables[DialplanVar.TICKET] == f"T{call.ticket_id:06d}"
    assert answer.variables[DialplanVar.CALLER] == ""
    assert call.caller_number is None and call.caller_number_raw == "anonymous"


async def test_a_session_without_uniqueid_gets_the_defaults(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    env = agi_env("1700000000.1", "081234567890")
    del env["agi_uniqueid"]

    answer = await incoming(gateway, env)

    assert DialplanVar.TICKET not in answer.variables
    # the caller's number is still normalised for the call taker's phone
    assert answer.variables == {DialplanVar.CALLER: "+6281234567890"}


async def test_garbage_variables_are_dropped_and_the_call_still_gets_its_ticket(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    uniqueid = new_uniqueid()
    env = agi_env(
        uniqueid,
        "<script>alert(x)</script>",
        recording="../../etc/passwd",
        extra={"agi_calleridname": "x" * 5000, "agi_channel": "PJSIP/" + "c" * 200},
    )

    answer = await incoming(gateway, env)

    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id is not None
    assert answer.variables[DialplanVar.TICKET] == f"T{call.ticket_id:06d}"
    assert call.caller_number is None  # no digits: not a number
    assert call.recording_path is None  # only YYYY/MM/DD/<uniqueid>.wav is accepted
    assert call.caller_name is None  # beyond any real value: dropped
    assert call.channel is not None and len(call.channel) == 128


async def test_bad_uniqueids_and_broken_sessions_never_stop_the_server(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    fastagi = gateway.settings.fastagi
    for bad in ("'; DROP TABLE calls; --", "9" * 5000, "", "abc"):
        answer = await incoming(gateway, agi_env("1.1", extra={"agi_uniqueid": bad}))
        assert DialplanVar.TICKET not in answer.variables
    for header in (b"not agi at all\n\n", b"agi_network_script: nowhere\n\n", b"\n\n"):
        answer = await agi_call(fastagi.host, fastagi.port, {}, raw_header=header)
        assert answer.variables == {}

    uniqueid = new_uniqueid()
    answer = await incoming(gateway, agi_env(uniqueid))
    assert answer.variables[DialplanVar.TICKET].startswith("T")


async def test_connections_that_close_or_stall_before_their_variables_do_not_stall_the_server(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastagi, "HEADER_SECONDS", 0.2)
    host, port = gateway.settings.fastagi.host, gateway.settings.fastagi.port
    # a port probe (connect, close), half a variable block, and a client that never finishes one
    _, probe = await asyncio.open_connection(host, port)
    probe.close()
    _, half = await asyncio.open_connection(host, port)
    half.write(b"agi_network: yes\nagi_network_script: incoming\n")
    half.close()
    stalled_reader, stalled = await asyncio.open_connection(host, port)
    stalled.write(b"agi_network: yes\n")

    answer = await incoming(gateway, agi_env(new_uniqueid()))

    assert answer.variables[DialplanVar.TICKET].startswith("T")
    assert await asyncio.wait_for(stalled_reader.read(), 5) == b""  # dropped after its bound
    stalled.close()


async def test_a_slow_database_gets_the_defaults_and_the_arrival_waits_in_the_spool(
    gateway: Gateway, engine: AsyncEngine
) -> None:
    uniqueid = new_uniqueid()
    await incoming(gateway, agi_env(uniqueid))  # the call exists ...
    async with engine.connect() as blocker:
        transaction = await blocker.begin()
        # ... and another transaction holds its row: the route's write must wait past its bound
        await blocker.execute(
            text("SELECT id FROM calls WHERE uniqueid = :u FOR UPDATE"), {"u": uniqueid}
        )
        fastagi = gateway.settings.fastagi
        env = agi_env(uniqueid, recording=recording_of(uniqueid))
        again = await agi_call(fastagi.host, fastagi.port, env)
        await transaction.rollback()

    assert DialplanVar.TICKET not in again.variables
    assert gateway.store.spool.pending()
    await gateway.store.replay_once()
    calls = await calls_of(engine, uniqueid)
    assert len(calls) == 1 and calls[0].recording_path == recording_of(uniqueid)


async def test_the_opened_ticket_is_announced_on_the_live_stream_once(
    gateway: Gateway, database_url: str
) -> None:
    received: list[dict[str, object]] = []
    listener = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    await listener.add_listener(CHANNEL, lambda *args: received.append(json.loads(args[3])))
    uniqueid = new_uniqueid()
    raw, number = first_time_caller()
    try:
        answer = await incoming(gateway, agi_env(uniqueid, raw))
        await incoming(gateway, agi_env(uniqueid, raw))  # asked again: no new ticket
        await asyncio.sleep(0.2)
    finally:
        await listener.close()

    mine = [
        e for e in received if isinstance(e["data"], dict) and e["data"].get("uniqueid") == uniqueid
    ]
    assert mine == [
        {
            "event": StreamEvent.TICKET_OPENED.value,
            "data": {
                "ticket_id": int(answer.variables[DialplanVar.TICKET][1:]),
                "number": answer.variables[DialplanVar.TICKET],
                "uniqueid": uniqueid,
                "caller_number": number,
                "priority": 5,
            },
        }
    ]


def test_plain_values_go_in_one_mset_and_any_other_value_in_its_own_set_variable() -> None:
    variables = {
        DialplanVar.TICKET.value: "T000001",
        DialplanVar.PRIORITY.value: "2",
        DialplanVar.TRIAGE.value: "warn",
        DialplanVar.CALLER.value: "",
    }

    commands = commands_for(variables)

    assert commands == [
        'SET VARIABLE SIAGA_CALLER ""',
        "EXEC MSet SIAGA_TICKET=T000001,SIAGA_PRIORITY=2,SIAGA_TRIAGE=warn",
    ]
    assert commands_for({DialplanVar.CALLER.value: "a,b"}) == ['SET VARIABLE SIAGA_CALLER "a,b"']
    assert commands_for({DialplanVar.TICKET.value: "T000001"}) == [
        'SET VARIABLE SIAGA_TICKET "T000001"'
    ]
    assert {k: v for c in commands for k, v in variables_of(c).items()} == variables
