"""Callback requests (services/callbacks.py): written on the ticket, claimed by one gateway once,
refused with a clear error when there is nobody to call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.names import Role
from core.timeutil import utcnow
from models.call import Call
from models.ticket import Ticket
from services.callbacks import service as callbacks
from services.users.auth import Principal

CALLTAKER = Principal(user_id=1, username="ct-a", role=Role.CALLTAKER, sip_account="ct1")


async def _ticket(session: AsyncSession, **kw: object) -> Ticket:
    ticket = Ticket(state="new", priority=5, **kw)
    session.add(ticket)
    await session.flush()
    return ticket


async def test_a_request_is_a_callback_call_on_the_ticket_claimed_once(
    session: AsyncSession,
) -> None:
    ticket = await _ticket(session, caller_number="+6281234500001")

    made = await callbacks.request(session, ticket.id, CALLTAKER)

    assert made.ticket_id == ticket.id and made.number == "081234500001"
    assert made.calltaker == "ct1" and made.uniqueid.startswith("cb-")
    claimed = await callbacks.claim_pending(session, limit=1000)
    mine = [c for c in claimed if c.uniqueid == made.uniqueid]
    assert len(mine) == 1 and mine[0].recording_path
    assert mine[0].recording_path.endswith(f"/{made.uniqueid}.wav")
    again = await callbacks.claim_pending(session, limit=1000)
    assert made.uniqueid not in {c.uniqueid for c in again}


async def test_the_reporters_callback_number_is_preferred(session: AsyncSession) -> None:
    ticket = await _ticket(
        session, caller_number="+6281234500002", callback_number="+6281299990000"
    )
    made = await callbacks.request(session, ticket.id, CALLTAKER)
    assert made.number == "081299990000"


async def test_nobody_to_call_or_no_phone_to_ring_is_refused(session: AsyncSession) -> None:
    withheld = await _ticket(session)
    with pytest.raises(ValidationFailed):
        await callbacks.request(session, withheld.id, CALLTAKER)
    known = await _ticket(session, caller_number="+6281234500003")
    no_phone = Principal(user_id=2, username="sup", role=Role.SUPERVISOR)
    with pytest.raises(ValidationFailed):
        await callbacks.request(session, known.id, no_phone)
    with pytest.raises(ValidationFailed):
        await callbacks.request(session, known.id, CALLTAKER, number="12; DROP")
    with pytest.raises(NotFound):
        await callbacks.request(session, 2**40, CALLTAKER)


async def test_the_worklist_holds_dropped_abandoned_and_silent_calls_until_called_back(
    session: AsyncSession,
) -> None:
    now = utcnow()
    tickets = [await _ticket(session, caller_number=f"+62812345000{i}") for i in range(4)]
    for i, (outcome, triage) in enumerate(
        [("abandoned", None), ("dropped", None), ("answered", "silent"), ("answered", "spoke")]
    ):
        session.add(
            Call(
                uniqueid=f"wl-{now.timestamp()}.{i}",
                ticket_id=tickets[i].id,
                direction="inbound",
                outcome=outcome,
                triage=triage,
                arrived_at=now - timedelta(minutes=5),
                ended_at=now - timedelta(minutes=4),
            )
        )
    await session.flush()
    mine = {t.id for t in tickets}

    listed = {
        item["ticket_id"]
        for item in await callbacks.worklist(session, limit=100_000)
        if item["ticket_id"] in mine
    }
    assert listed == {tickets[0].id, tickets[1].id, tickets[2].id}  # not the one answered and heard

    await callbacks.request(session, tickets[0].id, CALLTAKER)
    listed = {
        item["ticket_id"]
        for item in await callbacks.worklist(session, limit=100_000)
        if item["ticket_id"] in mine
    }
    assert listed == {tickets[1].id, tickets[2].id}
