"""What other areas rely on: the ticket view reads ``text_id`` / ``active_flag`` from
the caller history, supervisors lift flags at ``/callers/{number}/flags/lift``, and the worklist can
be called as ``callback_worklist(session, now, limit)``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.timeutil import utcnow
from models import Ticket
from services.calls.apply import apply_fact
from services.calls.facts import CallFact
from services.triage import autoclassify
from services.triage import decide as triage
from services.triage import history as caller_history
from services.triage.policy import PolicySettings
from tests.api.conftest import Client, People
from tests.triage.conftest import add_call, new_number


async def test_summary_carries_text_id_and_active_flag(session: AsyncSession) -> None:
    # the centre's default policy, whatever other tests left in the shared database
    await triage.save_settings(session, PolicySettings().to_dict(), actor="test")
    now = utcnow()
    number = new_number()
    calm = await caller_history.summary(session, number, now)
    assert calm["text_id"] == calm["text"]
    assert calm["active_flag"] is None
    for minutes in (5, 10, 15, 20):
        await add_call(session, number, now - timedelta(minutes=minutes), classification="prank")
    await add_call(session, number, now - timedelta(minutes=25), classification="emergency")
    busy = await caller_history.summary(session, number, now)
    assert busy["total"] == 5
    assert busy["text_id"].startswith("5 panggilan dalam 24 jam, 4 ditandai iseng")
    assert busy["text_en"].startswith("5 calls in 24 h, 4 marked prank")
    flag = busy["active_flag"]
    assert flag is not None
    assert (flag["source"], flag["priority"], flag["warn"]) == ("policy", 2, True)
    assert flag["reasons"][0].startswith("penelepon berulang: 4 panggilan iseng")


async def test_worklist_takes_now_and_limit_positionally(session: AsyncSession) -> None:
    now = datetime(2031, 3, 7, 3, 17, tzinfo=UTC)  # a day no other test writes calls on
    first, second = new_number(), new_number()
    await add_call(session, first, now - timedelta(minutes=30), outcome="abandoned")
    await add_call(session, second, now - timedelta(minutes=20), outcome="dropped")
    items = await autoclassify.callback_worklist(session, now, 1)
    assert [i["caller_number"] for i in items] == [second]


async def test_flags_lift_path(client: Client, people: People) -> None:
    number = new_number()
    spv = await client(people.supervisor)
    r = await spv.post(f"/callers/{number}/flags", json={"reason": "iseng", "hours": 2})
    assert r.status_code == 201, r.text
    ct = await client(people.calltaker)
    assert (await ct.post(f"/callers/{number}/flags/lift")).status_code == 403
    r = await spv.post(f"/callers/{number}/flags/lift", json={"reason": "sudah dikonfirmasi"})
    assert r.status_code == 200, r.text
    history = (await ct.get(f"/callers/{number}/history")).json()
    assert history["active_flag"] is None


async def _facts(session: AsyncSession, uniqueid: str, *kinds: str) -> int:
    """Apply the gateway's facts for one call, a second apart; returns its ticket id."""
    start = utcnow()
    ticket_id = None
    for i, kind in enumerate(kinds):
        data = {"caller_number": new_number()} if kind == "arrived" else {}
        fact = CallFact(kind, uniqueid, start + timedelta(seconds=i), data)
        result = await apply_fact(session, fact)
        ticket_id = ticket_id or result.ticket_id
    assert ticket_id is not None
    return ticket_id


async def test_the_gateway_classifies_a_call_ended_in_the_greeting(session: AsyncSession) -> None:
    ticket_id = await _facts(session, f"g-{new_number()}", "arrived", "ended")
    ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None
    await session.refresh(ticket)
    assert (ticket.classification, ticket.classified_by) == ("ghost", "auto")


async def test_the_gateway_leaves_answered_calls_to_the_call_taker(session: AsyncSession) -> None:
    # the answer learned after the end (a replayed spool) withdraws the automatic classification
    ticket_id = await _facts(session, f"a-{new_number()}", "arrived", "ended", "answered")
    ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None
    await session.refresh(ticket)
    assert ticket.classification is None and ticket.classified_by is None
