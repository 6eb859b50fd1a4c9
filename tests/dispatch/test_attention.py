"""What needs a supervisor's action on the hand-off to agencies: dispatches no agency has
acknowledged in time, webhooks delivery gave up on, and the live events that keep the supervisor's
dashboard current about both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import DeliveryState, DispatchState, Role
from core.settings import Settings
from core.timeutil import utcnow
from models import Agency, Dispatch, OutboxMessage, Ticket
from services.dispatch import delivery
from services.dispatch.outbox import new_message_id
from services.events import CHANNEL
from tests.dispatch.conftest import Client, MakeAgency, MakeTicket

Sessions = Callable[[], AsyncSession]
LONG_AGO = timedelta(minutes=10)


async def add_dispatch(
    sessions: Sessions, ticket: Ticket, agency: Agency, state: DispatchState, age: timedelta
) -> Dispatch:
    """A dispatch sent ``age`` ago, now in ``state``."""
    sent = utcnow() - age
    async with sessions() as s:
        d = Dispatch(
            ticket_id=ticket.id,
            agency_id=agency.id,
            state=state.value,
            dispatched_by="ct1",
            created_at=sent,
            acknowledged_at=sent + timedelta(seconds=30)
            if state is DispatchState.ACKNOWLEDGED
            else None,
            cancelled_at=sent + timedelta(seconds=30) if state is DispatchState.CANCELLED else None,
        )
        s.add(d)
        await s.commit()
    return d


async def add_message(
    sessions: Sessions, d: Dispatch, state: DeliveryState, **kw: Any
) -> OutboxMessage:
    now = utcnow()
    async with sessions() as s:
        message = OutboxMessage(
            message_id=new_message_id(),
            agency_id=d.agency_id,
            dispatch_id=d.id,
            event_type="dispatch.created",
            payload={"type": "dispatch.created"},
            state=state.value,
            next_attempt_at=now,
            created_at=d.created_at,
            **kw,
        )
        s.add(message)
        await s.commit()
    return message


@asynccontextmanager
async def listening(database_url: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Every live event committed while the block runs."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await conn.add_listener(CHANNEL, lambda *args: got.put_nowait(json.loads(args[3])))
    try:
        yield got
    finally:
        await conn.close()


async def next_delivery_event(got: asyncio.Queue[dict[str, Any]]) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(got.get(), 5)
        if event["event"] == "delivery.updated":
            return dict(event["data"])


async def test_overdue_lists_pending_dispatches_past_the_threshold_longest_waiting_first(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    sessions: Sessions,
    settings: Settings,
) -> None:
    hooked = await make_agency(webhook_url="http://127.0.0.1:9/hook")
    portal_only = await make_agency()  # acknowledges in the agency view
    tickets = [await make_ticket(category=c) for c in ("FIRE", "MEDICAL", "FIRE", "FIRE", "FIRE")]
    delivered = await add_dispatch(sessions, tickets[0], hooked, DispatchState.PENDING, LONG_AGO)
    await add_message(sessions, delivered, DeliveryState.DELIVERED, attempts=1)
    in_portal = await add_dispatch(
        sessions, tickets[1], portal_only, DispatchState.PENDING, LONG_AGO + timedelta(minutes=5)
    )
    young = await add_dispatch(
        sessions, tickets[2], hooked, DispatchState.PENDING, timedelta(seconds=5)
    )
    acknowledged = await add_dispatch(
        sessions, tickets[3], hooked, DispatchState.ACKNOWLEDGED, LONG_AGO
    )
    cancelled = await add_dispatch(sessions, tickets[4], hooked, DispatchState.CANCELLED, LONG_AGO)

    r = await client(Role.SUPERVISOR).get("/dispatches/overdue")

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["threshold_seconds"] == settings.dispatch.ack_overdue_seconds == 120
    listed = [i["dispatch_id"] for i in body["items"]]
    assert delivered.id in listed and in_portal.id in listed
    assert young.id not in listed
    assert acknowledged.id not in listed and cancelled.id not in listed
    assert listed.index(in_portal.id) < listed.index(delivered.id)  # longest waiting first
    assert body["total"] >= 2
    by_id = {i["dispatch_id"]: i for i in body["items"]}
    item = by_id[delivered.id]
    assert (item["ticket_id"], item["ticket_number"]) == (tickets[0].id, f"T{tickets[0].id:06d}")
    assert (item["agency_code"], item["agency_name"]) == (hooked.code, hooked.name)
    assert (item["category"], item["has_webhook"], item["delivery_state"]) == (
        "FIRE",
        True,
        "delivered",
    )
    assert LONG_AGO.total_seconds() <= item["waiting_seconds"] < 3600
    portal = by_id[in_portal.id]
    assert (portal["category"], portal["has_webhook"], portal["delivery_state"]) == (
        "MEDICAL",
        False,
        None,
    )
    assert portal["waiting_seconds"] > item["waiting_seconds"]


async def test_the_overdue_list_shows_the_state_of_the_latest_webhook_message(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket, sessions: Sessions
) -> None:
    agency = await make_agency(webhook_url="http://127.0.0.1:9/hook")
    d = await add_dispatch(sessions, await make_ticket(), agency, DispatchState.PENDING, LONG_AGO)
    await add_message(sessions, d, DeliveryState.DELIVERED, attempts=1)
    await add_message(sessions, d, DeliveryState.DEAD, attempts=7, dead_at=utcnow())

    r = await client(Role.SUPERVISOR).get("/dispatches/overdue")

    [item] = [i for i in r.json()["items"] if i["dispatch_id"] == d.id]
    assert item["delivery_state"] == "dead"


async def test_only_supervisors_and_admins_read_what_needs_attention(
    client: Client, make_agency: MakeAgency
) -> None:
    agency = await make_agency()
    for path in ("/dispatches/overdue", "/deliveries/dead"):
        assert (await client(Role.SUPERVISOR).get(path)).status_code == 200
        assert (await client(Role.ADMIN).get(path)).status_code == 200
        for role, kw in ((Role.CALLTAKER, {}), (Role.AGENCY, {"agency_id": agency.id})):
            refused = await client(role, **kw).get(path)
            assert refused.status_code == 403, (path, role)
            assert refused.json()["error_id"] == "forbidden"
        anonymous = await client().get(path)
        assert anonymous.status_code == 401
        assert anonymous.json()["error_id"] == "unauthenticated"


async def test_dead_letters_name_agency_and_ticket_and_redelivery_is_announced(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    sessions: Sessions,
    database_url: str,
) -> None:
    agency = await make_agency(webhook_url="http://127.0.0.1:9/hook")
    ticket = await make_ticket()
    d = await add_dispatch(sessions, ticket, agency, DispatchState.PENDING, LONG_AGO)
    dead = await add_message(
        sessions,
        d,
        DeliveryState.DEAD,
        attempts=7,
        dead_at=utcnow(),
        last_error="gave up after 7 attempts: HTTP 503",
    )
    supervisor = client(Role.SUPERVISOR)

    page = (await supervisor.get("/deliveries/dead", params={"limit": 200})).json()
    [item] = [i for i in page["items"] if i["message_id"] == dead.message_id]
    assert (item["agency"], item["agency_name"]) == (agency.code, agency.name)
    assert (item["ticket_id"], item["ticket_number"]) == (ticket.id, f"T{ticket.id:06d}")
    assert (item["event_type"], item["attempts"]) == ("dispatch.created", 7)
    assert item["last_error"] == "gave up after 7 attempts: HTTP 503"

    async with listening(database_url) as got:
        r = await supervisor.post(f"/deliveries/{dead.message_id}/redeliver")
        assert r.status_code == 200, r.text
        event = await next_delivery_event(got)
    assert event == {"state": "pending", "message_ids": [dead.message_id], "dispatch_ids": [d.id]}
    page = (await supervisor.get("/deliveries/dead", params={"limit": 200})).json()
    assert dead.message_id not in [i["message_id"] for i in page["items"]]


async def test_a_message_delivery_gives_up_on_is_announced_once_it_is_dead(
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    sessions: Sessions,
    settings: Settings,
    database_url: str,
) -> None:
    agency = await make_agency(webhook_url="http://127.0.0.1:9/hook")
    d = await add_dispatch(sessions, await make_ticket(), agency, DispatchState.PENDING, LONG_AGO)
    # claimed by a worker (its third try), and a second one whose claim a newer try has fenced
    claimed = await add_message(sessions, d, DeliveryState.DELIVERING, attempts=3)
    fenced = await add_message(sessions, d, DeliveryState.DELIVERING, attempts=5)

    def outcome(message: OutboxMessage, attempt: int) -> delivery.Outcome:
        now = utcnow()
        return delivery.Outcome(
            claimed=delivery.Claimed(
                id=message.id,
                message_id=message.message_id,
                agency_id=agency.id,
                agency_code=agency.code,
                attempt=attempt,
                body=b"{}",
                window_start=message.created_at,
                url=agency.webhook_url,
                usable=False,
            ),
            result=delivery.Result.UNDELIVERABLE,
            started_at=now,
            ended_at=now,
            worker="test",
            error="the agency's webhook endpoint is disabled or not set",
        )

    async with listening(database_url) as got:
        async with sessions() as s:
            await delivery.record(s, [outcome(claimed, 3), outcome(fenced, 4)], settings.webhooks)
            await s.commit()
        event = await next_delivery_event(got)

    assert event == {"state": "dead", "message_ids": [claimed.message_id], "dispatch_ids": [d.id]}
    async with sessions() as s:
        assert (await s.get_one(OutboxMessage, claimed.id)).state == "dead"
        assert (await s.get_one(OutboxMessage, fenced.id)).state == "delivering"
