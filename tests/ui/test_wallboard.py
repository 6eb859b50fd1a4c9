"""The wallboard's figures and the map's items, read over real HTTP from the real API."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.names import CallOutcome, Role, TicketState
from core.timeutil import utcnow
from models import Call, Dispatch, DispatchUpdate, Ticket
from tests.ui.conftest import ApiServer, api_client, ensure_agencies, make_person, token_for


async def bearer(server: ApiServer, engine: AsyncEngine, role: Role, **kw: Any) -> dict[str, str]:
    """A real user of ``role``, logged in through /auth/token."""
    person = await make_person(engine, role, **kw)
    return {"Authorization": f"Bearer {await token_for(server, person)}"}


async def summary(server: ApiServer, headers: dict[str, str]) -> dict[str, Any]:
    async with api_client(server) as client:
        response = await client.get("/wallboard/summary", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def call(uid: str, **fields: Any) -> Call:
    return Call(
        uniqueid=f"wb-{uid}-{secrets.token_hex(4)}", caller_number="+6281200000000", **fields
    )


async def test_wallboard_counts_waiting_callers_busy_call_takers_and_answers_within_ten_seconds(
    api_server: ApiServer, engine: AsyncEngine
) -> None:
    supervisor = await bearer(api_server, engine, Role.SUPERVISOR)
    before = await summary(api_server, supervisor)
    now = utcnow()
    account = f"ct-{secrets.token_hex(3)}"
    async with AsyncSession(engine) as session:
        session.add_all(
            [
                # two callers still waiting in the queue, the older for 40 s
                call("wait1", arrived_at=now, queued_at=now - timedelta(seconds=40)),
                call("wait2", arrived_at=now, queued_at=now - timedelta(seconds=5)),
                # answered after 4 s and still talking to a call taker
                call(
                    "talk",
                    queued_at=now - timedelta(seconds=60),
                    answered_at=now - timedelta(seconds=56),
                    calltaker=account,
                ),
                # answered after 25 s, over
                call(
                    "slow",
                    queued_at=now - timedelta(seconds=120),
                    answered_at=now - timedelta(seconds=95),
                    ended_at=now - timedelta(seconds=30),
                    outcome=CallOutcome.ANSWERED.value,
                    calltaker=account,
                ),
                # gave up in the queue
                call(
                    "gone",
                    queued_at=now - timedelta(seconds=50),
                    ended_at=now - timedelta(seconds=20),
                    outcome=CallOutcome.ABANDONED.value,
                ),
            ]
        )
        await session.commit()

    after = await summary(api_server, supervisor)

    assert after["waiting"] - before["waiting"] == 2
    assert after["longest_wait_seconds"] >= 40
    assert account in after["calltakers"]["on_call_accounts"]
    assert after["calltakers"]["on_call"] - before["calltakers"]["on_call"] == 1
    # offered: talking, slow, gone (the waiting ones have no outcome yet); within 10 s: talking
    assert after["offered_today"] - before["offered_today"] == 3
    assert after["answered_within_target_today"] - before["answered_within_target_today"] == 1
    assert after["answer_target_seconds"] == 10
    share = after["answered_within_target_share"]
    assert share == after["answered_within_target_today"] / after["offered_today"]


async def test_map_shows_open_tickets_and_the_last_position_of_each_unit_but_not_pranks(
    api_server: ApiServer, engine: AsyncEngine
) -> None:
    agencies = await ensure_agencies(engine)
    now = utcnow()
    async with AsyncSession(engine, expire_on_commit=False) as session:
        fire = Ticket(
            state=TicketState.DISPATCHED.value, category="FIRE", latitude=-3.39, longitude=104.83
        )
        prank = Ticket(state=TicketState.IN_PROGRESS.value, classification="prank")
        done = Ticket(state=TicketState.CLOSED.value, category="MEDICAL")
        session.add_all([fire, prank, done])
        await session.flush()
        dispatch = Dispatch(
            ticket_id=fire.id, agency_id=agencies["damkar"], state="on_scene", dispatched_by="test"
        )
        session.add(dispatch)
        await session.flush()
        session.add_all(
            [
                DispatchUpdate(
                    dispatch_id=dispatch.id,
                    state="en_route",
                    latitude=-3.30,
                    longitude=104.70,
                    at=now - timedelta(minutes=5),
                ),
                DispatchUpdate(
                    dispatch_id=dispatch.id,
                    state="on_scene",
                    latitude=-3.3901,
                    longitude=104.8302,
                    officer_name="Rudi",
                    at=now,
                ),
            ]
        )
        await session.commit()
        ids = (fire.id, prank.id, done.id, dispatch.id)

    supervisor = await bearer(api_server, engine, Role.SUPERVISOR)
    agency_user = await bearer(api_server, engine, Role.AGENCY, agency_code="damkar")
    async with api_client(api_server) as client:
        response = await client.get("/wallboard/map", headers=supervisor)
        agency = await client.get("/wallboard/map", headers=agency_user)
        anonymous = await client.get("/wallboard/map")

    assert response.status_code == 200
    body = response.json()
    ticket_ids = {t["id"] for t in body["tickets"]}
    assert ids[0] in ticket_ids and ids[1] not in ticket_ids and ids[2] not in ticket_ids
    (unit,) = [u for u in body["units"] if u["dispatch_id"] == ids[3]]
    assert (unit["state"], unit["latitude"], unit["officer_name"]) == ("on_scene", -3.3901, "Rudi")
    assert unit["agency_code"] == "damkar"
    assert agency.status_code == 403 and agency.json()["error_id"] == "forbidden"
    assert anonymous.status_code == 401 and anonymous.json()["error_id"] == "unauthenticated"
