"""Reconciliation from Asterisk's own records (services/reconcile.py): what the CDR and queue log
say becomes the same call facts the live path writes, and applying them again changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import CallEventKind, CallOutcome
from models.call import Call, CallEvent
from models.ticket import Ticket
from services.calls import reconcile
from services.calls.apply import apply_fact
from services.calls.facts import CallFact

CDR = (
    '"1795424319.0","1795424319.0","081260705216","""112 T000001"" <081260705216>","s",'
    '"siaga-112-queue","PJSIP/carrier-00000000","PJSIP/ct1-00000001","1795424319.629335",'
    '"1795424319.629914","1795424326.364330","6","6","ANSWERED",'
    '"2026/11/23/1795424319.0.wav","","0"\n'
    '"1795424326.2","1795424326.2","081282483226","""112"" <081282483226>","s",'
    '"siaga-112-queue","PJSIP/carrier-00000002","","1795424326.856496","1795424326.857531",'
    '"1795424336.863935","10","10","ANSWERED","2026/11/23/1795424326.2.wav","","2"\n'
    '"1795424340.5","1795424340.5","0811","""x"" <0811>","999","siaga-carrier",'
    '"PJSIP/carrier-00000005","","1795424340.1","0","1795424340.2","0","0","NO ANSWER","","","5"\n'
)
QUEUE_LOG = (
    "1795424314|NONE|NONE|NONE|QUEUESTART|\n"
    "1795424324|1795424319.0|calltakers|NONE|ENTERQUEUE||081260705216|1\n"
    "1795424324|1795424319.0|calltakers|ct1|CONNECT|0|1795424324.1|0\n"
    "1795424326|1795424319.0|calltakers|ct1|COMPLETEAGENT|0|2|1\n"
    "1795424331|1795424326.2|calltakers|NONE|ENTERQUEUE||081282483226|1\n"
    "1795424336|1795424326.2|calltakers|NONE|ABANDON|1|1|5\n"
)


def _calls() -> dict[str, reconcile.AsteriskCall]:
    calls = reconcile.parse_cdr(CDR)
    reconcile.apply_queue_log(calls, QUEUE_LOG)
    return calls


def test_only_112_callers_are_read_with_their_queue_outcome() -> None:
    calls = _calls()

    assert set(calls) == {"1795424319.0", "1795424326.2"}  # a refused number is no 112 call
    answered, abandoned = calls["1795424319.0"], calls["1795424326.2"]
    assert answered.calltaker == "ct1" and answered.talk_seconds == 2.0
    assert answered.recording == "2026/11/23/1795424319.0.wav"
    assert abandoned.connected_at is None and abandoned.wait_seconds == 5.0
    assert abandoned.abandon_position == 1


def test_the_facts_are_the_same_every_time() -> None:
    call = _calls()["1795424319.0"]

    first, again = reconcile.facts_for(call, 6.7), reconcile.facts_for(call, 6.7)

    assert first == again
    assert [f.kind for f in first] == [
        CallEventKind.RECONCILED,
        CallEventKind.QUEUED,
        CallEventKind.ANSWERED,
        CallEventKind.COMPLETED,
        CallEventKind.ENDED,
        CallEventKind.RECORDING,
    ]


async def test_applying_twice_gives_one_complete_ticket(session: AsyncSession) -> None:
    calls = _calls()
    for _ in range(2):
        for call in calls.values():
            for fact in reconcile.facts_for(call, 3.0):
                await apply_fact(session, fact)

    rows = (
        await session.scalars(select(Call).where(Call.uniqueid.in_(list(calls))).order_by(Call.id))
    ).all()
    assert [(c.uniqueid, c.outcome) for c in rows] == [
        ("1795424319.0", CallOutcome.ANSWERED),
        ("1795424326.2", CallOutcome.ABANDONED),
    ]
    assert len({c.ticket_id for c in rows}) == 2 and None not in {c.ticket_id for c in rows}
    answered = rows[0]
    assert answered.calltaker == "ct1" and answered.recording_path and answered.ended_at
    assert answered.source == "reconciled"
    events = await session.scalar(
        select(func.count()).select_from(CallEvent).where(CallEvent.uniqueid == "1795424319.0")
    )
    assert events == 6  # replaying added no timeline rows
    assert await reconcile.needs_work(session, calls.values()) == []


async def test_a_call_first_seen_at_its_end_gets_its_caller_from_asterisks_records(
    session: AsyncSession,
) -> None:
    call = _calls()["1795424326.2"]
    ended = reconcile.facts_for(call)[-2]  # the gateway came back just before the hangup
    assert ended.kind == CallEventKind.ENDED
    await apply_fact(session, CallFact(ended.kind, ended.uniqueid, ended.at, {}))

    assert await reconcile.needs_work(session, [call]) == [call]  # no caller, no arrival yet
    for fact in reconcile.facts_for(call):
        await apply_fact(session, fact)
    await reconcile.fill_ticket_caller(session, call.uniqueid)

    row = await session.scalar(select(Call).where(Call.uniqueid == call.uniqueid))
    assert row is not None and row.caller_number_raw == "081282483226" and row.arrived_at
    ticket = await session.get(Ticket, row.ticket_id)
    assert ticket is not None and ticket.caller_number_raw == "081282483226"
    assert ticket.caller_number == "+6281282483226"
    assert await reconcile.needs_work(session, [call]) == []


async def test_a_talk_time_the_gateway_missed_is_taken_from_the_queue_log(
    session: AsyncSession,
) -> None:
    call = _calls()["1795424319.0"]
    # the live path saw the whole call but not its AgentComplete (both legs gone when it came)
    facts = [f for f in reconcile.facts_for(call, 3.0) if f.kind != CallEventKind.COMPLETED]
    for fact in facts:
        await apply_fact(session, fact)
    row = await session.scalar(select(Call).where(Call.uniqueid == call.uniqueid))
    assert row is not None and row.talk_seconds is None and row.ended_at

    assert await reconcile.needs_work(session, [call]) == [call]
    for fact in reconcile.facts_for(call, 3.0):
        await apply_fact(session, fact)

    await session.refresh(row)
    assert row.talk_seconds == 2.0
    assert await reconcile.needs_work(session, [call]) == []
