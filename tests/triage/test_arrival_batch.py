"""Arrivals written as one batch (``services.calls.arrivals.arrive_many``) on the real database:
each call
gets its own ticket and its own triage decision, as if it had come alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import Classification
from core.rows import SessionRows
from models import Call, CallEvent, Ticket
from services.calls.arrivals import arrive_many
from services.calls.facts import CallFact
from services.triage import decide as triage
from services.triage.decide import NORMAL_PRIORITY
from tests.triage.conftest import STRICT_POLICY, add_call, new_number

NOW = datetime(2041, 6, 2, 3, 0, tzinfo=UTC)
POLICY = STRICT_POLICY


def arrival(uniqueid: str, number: str | None, **data: object) -> CallFact:
    return CallFact("arrived", uniqueid, NOW, {"caller_number": number, **data})


async def test_a_batch_decides_and_tickets_each_arrival_as_if_it_came_alone(
    session: AsyncSession,
) -> None:
    await triage.save_settings(session, POLICY, actor="test")
    flagged, first_time, known = new_number(), new_number(), new_number()
    for hours in (1, 2, 3, 4, 5):  # five pranks in five hours: over the threshold
        await add_call(
            session, flagged, NOW - timedelta(hours=hours), classification=Classification.PRANK
        )
    # a call the gateway already knows, with its ticket (its arrival is seen a second time)
    old_ticket, old_call = await add_call(session, None, NOW - timedelta(seconds=5))
    facts = [
        arrival("b-1", first_time, caller_name="Budi"),
        arrival("b-2", flagged),
        arrival("b-3", None),  # withheld number: no history to read
        arrival(old_call.uniqueid, known, dialled="112"),
    ]

    results = await arrive_many(SessionRows(session), facts)

    first, low, withheld, again = results
    assert low.decision is not None and low.decision.priority == 2 and low.decision.warn
    assert first.decision is not None and first.decision.priority == NORMAL_PRIORITY
    assert withheld.decision is not None and withheld.decision.priority == NORMAL_PRIORITY
    assert first.ticket_opened and low.ticket_opened and withheld.ticket_opened
    assert len({first.ticket_id, low.ticket_id, withheld.ticket_id}) == 3
    # the known call keeps its ticket, which now carries the caller's number
    assert again.ticket_id == old_ticket.id and not again.ticket_opened
    await session.refresh(old_ticket)
    assert old_ticket.caller_number == known
    lowered = await session.get(Ticket, low.ticket_id)
    assert lowered is not None and lowered.priority == 2
    assert lowered.triage_note is not None and "5 panggilan iseng" in lowered.triage_note
    named = await session.scalar(select(Call).where(Call.uniqueid == "b-1"))
    assert named is not None and named.caller_name == "Budi" and named.ticket_id == first.ticket_id
    events = await session.scalar(
        select(func.count()).select_from(CallEvent).where(CallEvent.uniqueid.in_(["b-1", "b-2"]))
    )
    assert events == 2


async def test_an_arrival_seen_again_in_a_later_batch_adds_nothing(session: AsyncSession) -> None:
    number = new_number()
    fact = arrival("b-again", number)
    (first,) = await arrive_many(SessionRows(session), [fact])
    second, _ = await arrive_many(SessionRows(session), [fact, arrival("b-other", number)])

    assert second.ticket_id == first.ticket_id and not second.ticket_opened
    tickets = await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.caller_number == number)
    )
    assert tickets == 2  # b-again's one and b-other's
