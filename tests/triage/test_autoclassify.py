"""Calls that end before a call taker speaks are classified ghost by the system ("auto"); answered
calls are left to the call taker; a person's classification is never overwritten. And the
callback worklist: missed callers without a later successful contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import AuditEntry, Ticket
from services.triage import autoclassify
from tests.triage.conftest import add_call, new_number

AT = datetime(2041, 6, 1, 3, 0, tzinfo=UTC)


async def reload(session: AsyncSession, ticket: Ticket) -> Ticket:
    await session.refresh(ticket)
    return ticket


@pytest.mark.parametrize(
    ("outcome", "talk", "reason"),
    [
        ("abandoned", None, "saat antre"),  # hung up while queued
        ("abandoned", "silent", "diam"),  # silent, then hung up while queued at low priority
        ("dropped", "silent", "diam"),  # silent, hung up in the prompt
        ("dropped", None, "saat salam"),  # hung up in the greeting
    ],
)
async def test_unanswered_calls_become_ghost(
    session: AsyncSession, outcome: str, talk: str | None, reason: str
) -> None:
    ticket, _ = await add_call(session, new_number(), AT, outcome=outcome, triage_result=talk)
    assert await autoclassify.on_call_ended(session, ticket.id) == "ghost"
    ticket = await reload(session, ticket)
    assert ticket.classification == "ghost" and ticket.classified_by == "auto"
    assert ticket.triage_note is not None and reason in ticket.triage_note
    assert ticket.state == "new"  # still workable: a callback joins this ticket
    audit = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.entity == "ticket", AuditEntry.entity_id == str(ticket.id)
        )
    )
    assert audit is not None and audit.actor == "auto" and audit.after is not None
    assert audit.after["classification"] == "ghost"
    # a replayed end changes nothing and adds no second note
    assert await autoclassify.on_call_ended(session, ticket.id) == "ghost"
    assert (await reload(session, ticket)).triage_note.count(reason) == 1  # type: ignore[union-attr]


async def test_answered_call_is_left_to_the_call_taker(session: AsyncSession) -> None:
    ticket, _ = await add_call(session, new_number(), AT, outcome="answered", answer_after=4)
    assert await autoclassify.on_call_ended(session, ticket.id) is None
    assert (await reload(session, ticket)).classification is None


async def test_failed_or_ongoing_calls_are_not_classified(session: AsyncSession) -> None:
    failed, _ = await add_call(session, new_number(), AT, outcome="failed")
    ongoing, _ = await add_call(session, new_number(), AT, outcome="in_progress", ended_after=None)
    for ticket in (failed, ongoing):
        assert await autoclassify.on_call_ended(session, ticket.id) is None
        assert (await reload(session, ticket)).classification is None


async def test_a_human_classification_is_never_overwritten(session: AsyncSession) -> None:
    ticket, _ = await add_call(
        session,
        new_number(),
        AT,
        outcome="abandoned",
        classification="prank",
        classified_by="ct-budi",
    )
    assert await autoclassify.on_call_ended(session, ticket.id) is None
    ticket = await reload(session, ticket)
    assert (ticket.classification, ticket.classified_by) == ("prank", "ct-budi")


async def test_an_answer_learned_late_withdraws_the_automatic_ghost(session: AsyncSession) -> None:
    ticket, call = await add_call(session, new_number(), AT, outcome="dropped")
    assert await autoclassify.on_call_ended(session, ticket.id) == "ghost"
    call.outcome, call.answered_at = "answered", AT + timedelta(seconds=9)  # facts out of order
    await session.flush()
    assert await autoclassify.on_call_ended(session, ticket.id) is None
    ticket = await reload(session, ticket)
    assert ticket.classification is None and ticket.classified_by is None


async def test_callback_answered_on_the_same_ticket_is_a_call_takers_ticket(
    session: AsyncSession,
) -> None:
    number = new_number()
    ticket, _ = await add_call(session, number, AT, outcome="dropped")
    await add_call(
        session,
        number,
        AT + timedelta(minutes=2),
        outcome="answered",
        answer_after=5,
        direction="callback",
        ticket=ticket,
    )
    assert await autoclassify.on_call_ended(session, ticket.id) is None
    assert (await reload(session, ticket)).classification is None


async def test_unknown_ticket_is_ignored(session: AsyncSession) -> None:
    assert await autoclassify.on_call_ended(session, 10**12) is None


async def test_callback_worklist(session: AsyncSession) -> None:
    now = AT + timedelta(hours=1)
    missed, reached, prank, withheld = new_number(), new_number(), new_number(), None
    # missed twice (dropped, then abandoned): one row, its latest call, 2 missed calls
    await add_call(session, missed, AT, outcome="dropped", triage_result="silent")
    latest, _ = await add_call(session, missed, AT + timedelta(minutes=5), outcome="abandoned")
    # dropped, then called back successfully: off the list
    await add_call(session, reached, AT, outcome="dropped")
    await add_call(
        session,
        reached,
        AT + timedelta(minutes=3),
        outcome="answered",
        answer_after=6,
        direction="callback",
    )
    # dropped, then a callback on the same ticket that carries the number only as dialled
    dialled_back = new_number()
    missed_ticket, _ = await add_call(session, dialled_back, AT, outcome="dropped")
    await add_call(
        session,
        None,
        AT + timedelta(minutes=4),
        outcome="answered",
        answer_after=5,
        direction="callback",
        ticket=missed_ticket,
    )
    # a prank call a call taker handled: off the list
    await add_call(
        session, prank, AT, outcome="abandoned", classification="prank", classified_by="ct"
    )
    await add_call(session, withheld, AT, outcome="dropped")  # nobody to call back
    items = await autoclassify.callback_worklist(session, now=now, hours=2)
    mine = [i for i in items if i["caller_number"] in (missed, reached, prank, dialled_back)]
    assert [(i["caller_number"], i["ticket_id"], i["missed_calls"]) for i in mine] == [
        (missed, latest.id, 2)
    ]
    # outside the window it is gone
    later = await autoclassify.callback_worklist(session, now=now + timedelta(hours=3), hours=2)
    assert missed not in [i["caller_number"] for i in later]
