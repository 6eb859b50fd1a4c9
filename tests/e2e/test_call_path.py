"""Issue 2, on a real Asterisk with real SIPp: every 112 call is answered, greeted, recorded and
queued to a call taker, and has exactly one ticket, whatever the gateway does."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.names import CallOutcome
from core.settings import Settings
from models.call import Call
from models.ticket import Ticket
from ops.asterisk import AsteriskInstance
from ops.sipp import SippRunner, refused_scenario
from tests.e2e.agi_stub import AgiStub
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.conftest import GatewayProcess, cdr_rows, eventually, unique_number

pytestmark = pytest.mark.e2e

# One second of 8 kHz 16-bit mono audio: a recording "with audio" holds well over this
# (a recording of nothing is a 44-byte WAV header).
ONE_SECOND_OF_AUDIO = 16000


async def calls_of(engine: AsyncEngine, numbers: list[str]) -> list[Call]:
    async with AsyncSession(engine) as session:
        result = await session.execute(
            select(Call).where(Call.caller_number_raw.in_(numbers)).order_by(Call.id)
        )
        return list(result.scalars())


async def ticket(engine: AsyncEngine, ticket_id: int) -> Ticket | None:
    async with AsyncSession(engine) as session:
        return await session.get(Ticket, ticket_id)


def ended(calls: list[Call], count: int) -> list[Call] | None:
    done = [c for c in calls if c.ended_at is not None and c.outcome != CallOutcome.IN_PROGRESS]
    return calls if len(calls) == count and len(done) == count else None


async def test_answered_call_has_one_ticket_with_times_call_taker_and_recording(
    gateway: GatewayProcess, sipp: SippRunner, asterisk: AsteriskInstance, engine: AsyncEngine
) -> None:
    number = unique_number()

    result = await sipp.call([number])

    assert result.ok, result.stderr
    calls = await eventually(lambda: _ended(engine, [number], 1))
    call = calls[0]
    assert call.outcome == CallOutcome.ANSWERED
    assert call.ticket_id is not None
    assert await ticket(engine, call.ticket_id) is not None
    assert call.arrived_at and call.answered_at and call.ended_at
    assert call.arrived_at <= call.answered_at <= call.ended_at
    assert call.calltaker in {"ct1", "ct2"}
    assert call.wait_seconds is not None and call.wait_seconds >= 0
    assert call.talk_seconds is not None and call.talk_seconds > 0
    assert call.recording_path and call.recording_path.endswith(f"{call.uniqueid}.wav")
    recording = asterisk.recordings / call.recording_path
    assert recording.stat().st_size > ONE_SECOND_OF_AUDIO


async def test_caller_who_hangs_up_while_queued_is_abandoned_with_wait_time(
    gateway: GatewayProcess,
    sipp: SippRunner,
    engine: AsyncEngine,
    calltakers_paused: None,
) -> None:
    number = unique_number()

    # the caller speaks (greeting cut short), waits in the queue with every call taker busy,
    # then gives up
    result = await sipp.call([number], hangup_after_ms=10000)

    assert result.ok, result.stderr
    call = (await eventually(lambda: _ended(engine, [number], 1)))[0]
    assert call.outcome == CallOutcome.ABANDONED
    assert call.answered_at is None
    assert call.wait_seconds is not None and call.wait_seconds > 0
    assert call.ticket_id is not None


async def test_twenty_calls_at_once_with_two_call_takers_give_twenty_tickets_and_recordings(
    gateway: GatewayProcess, sipp: SippRunner, asterisk: AsteriskInstance, engine: AsyncEngine
) -> None:
    numbers = [unique_number() for _ in range(20)]

    result = await sipp.call(numbers, rate=20, timeout_s=180)

    assert result.ok, result.stderr
    calls = await eventually(lambda: _ended(engine, numbers, 20), timeout=30)
    assert sorted(c.caller_number_raw or "" for c in calls) == sorted(
        numbers
    )  # none lost, none doubled
    assert len({c.ticket_id for c in calls}) == 20 and None not in {c.ticket_id for c in calls}
    assert all(c.outcome == CallOutcome.ANSWERED for c in calls)
    recordings = {c.recording_path for c in calls}
    assert len(recordings) == 20
    for path in recordings:
        assert path and (asterisk.recordings / path).stat().st_size > ONE_SECOND_OF_AUDIO


async def test_with_the_gateway_stopped_a_call_is_still_answered_recorded_and_queued(
    no_gateway: GatewayProcess, sipp: SippRunner, asterisk: AsteriskInstance
) -> None:
    number = unique_number()

    result = await sipp.call([number])

    # the caller was answered and stayed until the call taker ended the call
    assert result.ok, result.stderr
    rows = await eventually(
        lambda: [r for r in cdr_rows(asterisk) if r["src"] == number and r["dstchannel"]]
    )
    assert any(r["disposition"] == "ANSWERED" and "PJSIP/ct" in r["dstchannel"] for r in rows)
    recording = rows[0]["userfield"]
    assert recording.endswith(f"{rows[0]['uniqueid']}.wav")
    assert (asterisk.recordings / recording).stat().st_size > ONE_SECOND_OF_AUDIO
    assert rows[0]["ticket"] == ""  # no gateway, no ticket yet: Asterisk's own record remains


async def test_a_frozen_gateway_does_not_hold_the_call(
    agi_stub: AgiStub, sipp: SippRunner, asterisk: AsteriskInstance
) -> None:
    agi_stub.mode = "freeze"  # accepts the FastAGI connection and never answers
    number = unique_number()

    result = await sipp.call([number])

    assert result.ok, result.stderr
    assert [s.get("agi_callerid") for s in agi_stub.sessions] == [number]
    rows = await eventually(
        lambda: [r for r in cdr_rows(asterisk) if r["src"] == number and r["dstchannel"]]
    )
    assert any(r["disposition"] == "ANSWERED" and "PJSIP/ct" in r["dstchannel"] for r in rows)


async def test_the_gateway_answer_steers_the_call_and_reaches_the_call_takers_phone(
    agi_stub: AgiStub, sipp: SippRunner, asterisk: AsteriskInstance, ami: AmiWatch
) -> None:
    agi_stub.answers = {"SIAGA_TICKET": "T000777", "SIAGA_PRIORITY": "7", "SIAGA_TRIAGE": "normal"}
    number = unique_number()

    result = await sipp.call([number])

    assert result.ok, result.stderr
    session = agi_stub.sessions[-1]
    assert session["agi_network_script"] == "incoming"
    assert session["agi_callerid"] == number
    assert session["agi_arg_1"].endswith(f"/{session['agi_uniqueid']}.wav")
    called = await ami.wait_for("AgentCalled", Uniqueid=session["agi_uniqueid"])
    # the call taker's phone shows the ticket number with the caller's number
    assert called["CallerIDName"] == "112 T000777"
    assert called["CallerIDNum"] == number
    for event in ("QueueCallerJoin", "AgentConnect", "AgentComplete", "Hangup"):
        await ami.wait_for(event, Uniqueid=session["agi_uniqueid"])
    rows = [r for r in cdr_rows(asterisk) if r["uniqueid"] == session["agi_uniqueid"]]
    assert rows and rows[0]["ticket"] == "T000777"


async def test_a_call_from_outside_the_carrier_never_reaches_the_112_context(
    agi_stub: AgiStub, sipp: SippRunner, asterisk: AsteriskInstance
) -> None:
    number = unique_number()
    # from an address that is not the carrier's, once with a plain number and once claiming to
    # be the carrier's endpoint by name
    for caller in (number, "carrier"):
        result = await sipp.call([caller], source_ip="127.0.0.3", scenario=refused_scenario())
        assert result.ok, result.stderr  # refused with 401/403: the scenario expects that

    assert agi_stub.sessions == []
    assert not [r for r in cdr_rows(asterisk) if r["src"] in (number, "carrier")]


async def _ended(engine: AsyncEngine, numbers: list[str], count: int) -> list[Call] | None:
    return ended(await calls_of(engine, numbers), count)


async def test_twenty_calls_at_once_are_each_answered_and_recorded_by_asterisk_alone(
    agi_stub: AgiStub, sipp: SippRunner, asterisk: AsteriskInstance
) -> None:
    numbers = [unique_number() for _ in range(20)]

    result = await sipp.call(numbers, rate=20, timeout_s=180)

    assert result.ok, result.stderr
    assert sorted(s["agi_callerid"] for s in agi_stub.sessions) == sorted(numbers)

    def answered() -> dict[str, dict[str, str]] | None:
        rows = {
            r["uniqueid"]: r
            for r in cdr_rows(asterisk)
            if r["src"] in numbers and r["disposition"] == "ANSWERED" and r["dstchannel"]
        }
        return rows if len(rows) == 20 else None

    calls = await eventually(answered)
    assert len({r["userfield"] for r in calls.values()}) == 20
    for row in calls.values():
        assert (asterisk.recordings / row["userfield"]).stat().st_size > ONE_SECOND_OF_AUDIO


async def test_a_fastagi_connection_that_says_nothing_does_not_stop_the_gateway(
    gateway: GatewayProcess, sipp: SippRunner, engine: AsyncEngine, e2e_settings: Settings
) -> None:
    # a port probe or a half-open session: connect, send nothing, close
    _, writer = await asyncio.open_connection(e2e_settings.fastagi.host, e2e_settings.fastagi.port)
    writer.close()
    number = unique_number()

    result = await sipp.call([number])

    assert result.ok, result.stderr
    call = (await eventually(lambda: _ended(engine, [number], 1)))[0]
    assert call.ticket_id is not None
