"""Dispatching a ticket: one transaction for the dispatches, the ticket, the audit, the stream
event and the outbox; the rules on what may be dispatched; suggestions; cancelling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import Role
from models import AuditEntry, Dispatch, OutboxMessage, Ticket
from services.events import CHANNEL
from tests.dispatch.conftest import Client, MakeAgency, MakeTicket

Sessions = Callable[[], AsyncSession]


async def test_dispatch_writes_dispatches_ticket_audit_and_outbox_together(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket, sessions: Sessions
) -> None:
    hooked = await make_agency(webhook_url="http://127.0.0.1:9/hook")
    portal_only = await make_agency()  # no webhook: follows its dispatches in the portal
    ticket = await make_ticket()
    r = await client(Role.CALLTAKER, username="ct1").post(
        f"/tickets/{ticket.id}/dispatches",
        json={"agency_codes": [hooked.code, portal_only.code], "note": "Segera"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert {d["agency_code"] for d in body} == {hooked.code, portal_only.code}
    assert all(d["state"] == "pending" and d["dispatched_by"] == "ct1" for d in body)
    async with sessions() as s:
        t = await s.get_one(Ticket, ticket.id)
        assert t.state == "dispatched"
        assert t.classification == "emergency" and t.classified_by == "ct1"
        messages = (
            await s.scalars(
                select(OutboxMessage).where(OutboxMessage.dispatch_id.in_([d["id"] for d in body]))
            )
        ).all()
        actions = {
            a.action
            for a in await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.entity == "dispatch",
                    AuditEntry.entity_id.in_([str(d["id"]) for d in body]),
                )
            )
        }
    assert actions == {"dispatch.created"}
    assert len(messages) == 1  # only the agency with an endpoint gets a webhook
    message = messages[0]
    assert message.agency_id == hooked.id and message.event_type == "dispatch.created"
    assert message.state == "pending" and message.message_id.startswith("msg_")
    data = message.payload["data"]
    assert message.payload["type"] == "dispatch.created"
    assert data["ticket"]["number"] == ticket.number
    assert data["ticket"]["location"]["latitude"] == -3.3946
    assert data["ticket"]["reporter"] == {
        "name": "Budi Santoso",
        "callback_number": "+6281299990000",
    }
    assert data["ticket"]["created_at"]["utc"].endswith("Z")
    assert data["ticket"]["created_at"]["local"].endswith("+07:00")
    assert data["dispatch"]["agency"] == hooked.code and data["dispatch"]["note"] == "Segera"
    assert portal_only.code not in json.dumps(message.payload)  # never another agency's data


async def test_dispatching_the_same_agency_twice_is_a_clear_409(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket, sessions: Sessions
) -> None:
    a, b = await make_agency(), await make_agency()
    ticket = await make_ticket()
    ct = client(Role.CALLTAKER)
    assert (
        await ct.post(f"/tickets/{ticket.id}/dispatches", json={"agency_codes": [a.code]})
    ).status_code == 201
    r = await ct.post(f"/tickets/{ticket.id}/dispatches", json={"agency_codes": [b.code, a.code]})
    assert r.status_code == 409
    assert r.json()["error_id"] == "already-dispatched"
    assert r.json()["details"]["agency_codes"] == [a.code]
    async with sessions() as s:  # all or nothing: b was not dispatched either
        count = len(
            (await s.scalars(select(Dispatch).where(Dispatch.ticket_id == ticket.id))).all()
        )
    assert count == 1
    # by id, as the console sends it, works the same
    r = await ct.post(f"/tickets/{ticket.id}/dispatches", json={"agency_ids": [b.id]})
    assert r.status_code == 201 and r.json()[0]["agency_code"] == b.code


async def test_only_emergencies_are_dispatched(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket
) -> None:
    agency = await make_agency()
    ct = client(Role.CALLTAKER)
    for classification in ("prank", "ghost", "information"):
        ticket = await make_ticket(classification=classification)
        r = await ct.post(f"/tickets/{ticket.id}/dispatches", json={"agency_codes": [agency.code]})
        assert r.status_code == 409
        assert r.json()["error_id"] == "ticket-not-emergency"
    emergency = await make_ticket(classification="emergency")
    r = await ct.post(f"/tickets/{emergency.id}/dispatches", json={"agency_codes": [agency.code]})
    assert r.status_code == 201


async def test_closed_or_cancelled_tickets_are_not_dispatched(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket
) -> None:
    agency = await make_agency()
    for state in ("closed", "cancelled", "resolved"):
        ticket = await make_ticket(state=state, classification="emergency")
        r = await client(Role.SUPERVISOR).post(
            f"/tickets/{ticket.id}/dispatches", json={"agency_codes": [agency.code]}
        )
        assert r.status_code == 409
        assert r.json()["error_id"] == "invalid-transition"


async def test_dispatch_validation(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    ct = client(Role.CALLTAKER)
    r = await ct.post(f"/tickets/{ticket.id}/dispatches", json={"agency_codes": []})
    assert r.status_code == 422 and r.json()["error_id"] == "validation-failed"
    r = await ct.post(f"/tickets/{ticket.id}/dispatches", json={"agency_codes": ["nosuch"]})
    assert r.status_code == 422
    assert r.json()["details"]["fields"][0]["field"] == "agency_codes"
    inactive = await make_agency(active=False)
    r = await ct.post(f"/tickets/{ticket.id}/dispatches", json={"agency_codes": [inactive.code]})
    assert r.status_code == 422
    r = await ct.post("/tickets/999999999/dispatches", json={"agency_codes": ["x"]})
    assert r.status_code == 404 and r.json()["error_id"] == "not-found"
    r = await ct.post("/tickets/0/dispatches", json={"agency_codes": ["x"]})
    assert r.status_code == 422
    r = await ct.post(f"/tickets/{ticket.id}/dispatches", json={"agency_codes": ["x"], "z": 1})
    assert r.status_code == 422
    # agencies and the public cannot dispatch
    assert (
        await client(Role.AGENCY, agency_id=inactive.id).post(
            f"/tickets/{ticket.id}/dispatches", json={"agency_codes": ["x"]}
        )
    ).status_code == 403
    assert (
        await client().post(f"/tickets/{ticket.id}/dispatches", json={"agency_codes": ["x"]})
    ).status_code == 401


async def test_the_category_suggests_agencies(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket
) -> None:
    own = await make_agency(categories=("ENVIRONMENT",))
    other = await make_agency(categories=("SOCIAL",))
    ticket = await make_ticket(category="ENVIRONMENT")
    r = await client(Role.CALLTAKER).get(f"/tickets/{ticket.id}/suggested-agencies")
    assert r.status_code == 200
    rows = {a["code"]: a for a in r.json()}
    assert rows[own.code]["suggested"] and not rows[other.code]["suggested"]
    suggested = [a["code"] for a in r.json() if a["suggested"]]
    assert suggested == [a["code"] for a in r.json()][: len(suggested)]  # suggested come first
    if "dlh" in rows:  # the seeded agency the category names
        assert rows["dlh"]["suggested"]


async def test_dispatch_is_published_on_the_stream_at_commit(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket, database_url: str
) -> None:
    agency = await make_agency()
    ticket = await make_ticket()
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    got: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(CHANNEL, lambda *args: got.put_nowait(args[3]))
    try:
        r = await client(Role.CALLTAKER).post(
            f"/tickets/{ticket.id}/dispatches", json={"agency_codes": [agency.code]}
        )
        events = []
        while True:
            event = json.loads(await asyncio.wait_for(got.get(), 5))
            events.append(event)
            if event["event"] == "dispatch.updated" and event["data"]["ticket_id"] == ticket.id:
                break
    finally:
        await conn.close()
    assert event["data"] == {
        "ticket_id": ticket.id,
        "dispatch_id": r.json()[0]["id"],
        "agency": agency.code,
        "state": "pending",
        "lat": None,
        "lon": None,
    }


async def test_the_centre_cancels_a_dispatch_and_the_agency_is_told(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket, sessions: Sessions
) -> None:
    agency = await make_agency(webhook_url="http://127.0.0.1:9/hook")
    ticket = await make_ticket()
    ct = client(Role.CALLTAKER)
    d = (
        await ct.post(f"/tickets/{ticket.id}/dispatches", json={"agency_codes": [agency.code]})
    ).json()[0]
    r = await ct.post(f"/dispatches/{d['id']}/cancel", json={"reason": "Salah alamat"})
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = await ct.post(f"/dispatches/{d['id']}/cancel", json={"reason": "lagi"})
    assert r.status_code == 409 and r.json()["error_id"] == "invalid-transition"
    async with sessions() as s:
        types = (
            await s.scalars(
                select(OutboxMessage.event_type)
                .where(OutboxMessage.dispatch_id == d["id"])
                .order_by(OutboxMessage.id)
            )
        ).all()
    assert types == ["dispatch.created", "dispatch.cancelled"]
    listed = (await ct.get(f"/tickets/{ticket.id}/dispatches")).json()
    assert listed[0]["state"] == "cancelled" and listed[0]["delivery_state"] == "pending"


async def test_agencies_with_an_open_dispatch_hear_of_ticket_changes(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket, sessions: Sessions
) -> None:
    from services.dispatch.service import notify_ticket_updated

    open_one = await make_agency(webhook_url="http://127.0.0.1:9/hook")
    closed_one = await make_agency(webhook_url="http://127.0.0.1:9/hook")
    ticket = await make_ticket()
    made = (
        await client(Role.CALLTAKER).post(
            f"/tickets/{ticket.id}/dispatches",
            json={"agency_codes": [open_one.code, closed_one.code]},
        )
    ).json()
    closed_id = next(d["id"] for d in made if d["agency_code"] == closed_one.code)
    await client(Role.CALLTAKER).post(f"/dispatches/{closed_id}/cancel", json={"reason": "batal"})
    async with sessions() as s:
        t = await s.get_one(Ticket, ticket.id)
        t.description = "Api merambat ke rumah sebelah"
        assert await notify_ticket_updated(s, t, ["description"]) == 1
        await s.commit()
        rows = (
            await s.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.event_type == "ticket.updated",
                    OutboxMessage.dispatch_id.in_([d["id"] for d in made]),
                )
            )
        ).all()
    [message] = rows
    assert message.agency_id == open_one.id
    assert message.payload["data"]["changed"] == ["description"]
    assert message.payload["data"]["ticket"]["description"] == "Api merambat ke rumah sebelah"
