"""The agency side: each agency sees and handles only its own dispatches, along the transition
table, and the ticket follows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import Role
from models import AuditEntry, DispatchUpdate, Ticket
from tests.dispatch.conftest import Client, MakeAgency, MakeTicket

Sessions = Callable[[], AsyncSession]


async def dispatched(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket, agencies: int = 1
) -> tuple[Any, list[Any], list[dict[str, Any]]]:
    made = [await make_agency() for _ in range(agencies)]
    ticket = await make_ticket()
    r = await client(Role.CALLTAKER).post(
        f"/tickets/{ticket.id}/dispatches", json={"agency_codes": [a.code for a in made]}
    )
    assert r.status_code == 201
    by_agency = {d["agency_id"]: d for d in r.json()}
    return ticket, made, [by_agency[a.id] for a in made]


async def ticket_state(sessions: Sessions, ticket_id: int) -> str:
    async with sessions() as s:
        return (await s.get_one(Ticket, ticket_id)).state


async def test_an_agency_cannot_read_or_touch_another_agencys_dispatch(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket
) -> None:
    ticket, (a, b), (da, db) = await dispatched(client, make_agency, make_ticket, agencies=2)
    as_a = client(Role.AGENCY, agency_id=a.id)
    assert (await as_a.get(f"/agency/dispatches/{da['id']}")).status_code == 200
    missing = await as_a.get("/agency/dispatches/999999999")
    for r in (
        await as_a.get(f"/agency/dispatches/{db['id']}"),
        await as_a.post(f"/agency/dispatches/{db['id']}/acknowledge", json={}),
        await as_a.post(f"/agency/dispatches/{db['id']}/updates", json={"state": "en_route"}),
        await as_a.post(f"/agency/dispatches/{db['id']}/close", json={"report": "selesai"}),
    ):
        assert r.status_code == 404  # exactly like a dispatch that does not exist
        assert r.json()["error_id"] == missing.json()["error_id"] == "not-found"
    listed = (await as_a.get("/agency/dispatches")).json()["items"]
    assert {d["id"] for d in listed} == {da["id"]}
    # the agency's view of a ticket carries nothing about other agencies
    assert b.code not in str(listed)
    # an agency cannot use the centre's endpoints
    assert (await as_a.get(f"/tickets/{ticket.id}/dispatches")).status_code == 403
    assert (
        await as_a.post(f"/dispatches/{db['id']}/cancel", json={"reason": "xxx"})
    ).status_code == 403
    # a centre account (even admin) has no agency: the portal refuses it
    assert (await client(Role.ADMIN).get("/agency/dispatches")).status_code == 403
    assert (await client(Role.CALLTAKER).get("/agency/dispatches")).status_code == 403
    assert (await client().get("/agency/dispatches")).status_code == 401


async def test_a_dispatch_through_its_whole_life_and_the_ticket_follows(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket, sessions: Sessions
) -> None:
    ticket, (a, b), (da, db) = await dispatched(client, make_agency, make_ticket, agencies=2)
    as_a = client(Role.AGENCY, agency_id=a.id, username="damkar-op")
    as_b = client(Role.AGENCY, agency_id=b.id)
    url_a, url_b = f"/agency/dispatches/{da['id']}", f"/agency/dispatches/{db['id']}"
    assert await ticket_state(sessions, ticket.id) == "dispatched"

    r = await as_a.post(f"{url_a}/acknowledge", json={"officer_name": "Andi", "officer_id": "D-7"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert r.json()["acknowledged_at"]
    assert await ticket_state(sessions, ticket.id) == "acknowledged"

    r = await as_a.post(
        f"{url_a}/updates",
        json={
            "state": "en_route",
            "note": "Berangkat",
            "officer_name": "Andi",
            "officer_id": "D-7",
            "latitude": -3.40,
            "longitude": 104.83,
        },
    )
    assert r.status_code == 200 and r.json()["state"] == "en_route"
    assert await ticket_state(sessions, ticket.id) == "acknowledged"

    r = await as_a.post(
        f"{url_a}/updates", json={"state": "on_scene", "latitude": -3.3946, "longitude": 104.8322}
    )
    assert r.json()["state"] == "on_scene"
    assert await ticket_state(sessions, ticket.id) == "on_scene"

    r = await as_a.post(f"{url_a}/updates", json={"state": "resolved", "note": "Api padam"})
    assert r.json()["state"] == "resolved"
    assert await ticket_state(sessions, ticket.id) == "on_scene"  # b is still pending

    await as_b.post(f"{url_b}/acknowledge")
    r = await as_b.post(f"{url_b}/close", json={"report": "Tidak diperlukan, ditangani Damkar"})
    assert r.status_code == 200 and r.json()["state"] == "closed"
    assert r.json()["report"] == "Tidak diperlukan, ditangani Damkar"
    assert await ticket_state(sessions, ticket.id) == "resolved"  # all finished

    r = await as_a.post(f"{url_a}/close", json={"report": "Kebakaran padam, 2 korban dirawat"})
    assert r.json()["state"] == "closed"
    detail = (await as_a.get(url_a)).json()
    assert [u["state"] for u in detail["updates"]] == [
        "acknowledged",
        "en_route",
        "on_scene",
        "resolved",
        "closed",
    ]
    assert detail["updates"][1]["officer_name"] == "Andi"
    assert detail["updates"][1]["latitude"] == -3.40
    assert detail["ticket"]["number"] == ticket.number
    async with sessions() as s:
        actions = (
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity == "dispatch", AuditEntry.entity_id == str(da["id"]))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert actions == [
        "dispatch.created",
        "dispatch.acknowledged",
        "dispatch.en_route",
        "dispatch.on_scene",
        "dispatch.resolved",
        "dispatch.closed",
    ]


async def test_wrong_transitions_are_refused_with_a_clear_error(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket, sessions: Sessions
) -> None:
    _, (a,), (d,) = await dispatched(client, make_agency, make_ticket)
    as_a = client(Role.AGENCY, agency_id=a.id)
    url = f"/agency/dispatches/{d['id']}"
    r = await as_a.post(f"{url}/updates", json={"state": "on_scene"})
    assert r.status_code == 409
    body = r.json()
    assert body["error_id"] == "invalid-transition"
    assert body["details"] == {
        "from": "pending",
        "to": "on_scene",
        "allowed": ["acknowledged", "cancelled"],
    }
    r = await as_a.post(f"{url}/close", json={"report": "terlalu dini"})
    assert r.status_code == 409
    await as_a.post(f"{url}/acknowledge")
    r = await as_a.post(f"{url}/acknowledge")
    assert r.status_code == 409
    async with sessions() as s:  # refused changes leave no trace
        updates = (
            await s.scalars(
                select(DispatchUpdate.state).where(DispatchUpdate.dispatch_id == d["id"])
            )
        ).all()
    assert updates == ["acknowledged"]


async def test_status_update_validation(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket
) -> None:
    _, (a,), (d,) = await dispatched(client, make_agency, make_ticket)
    as_a = client(Role.AGENCY, agency_id=a.id)
    url = f"/agency/dispatches/{d['id']}"
    await as_a.post(f"{url}/acknowledge")
    cases = [
        ({"state": "on_scene", "latitude": 91, "longitude": 0}, "latitude"),
        ({"state": "on_scene", "latitude": 0, "longitude": -180.5}, "longitude"),
        ({"state": "on_scene", "latitude": 1.0}, ""),  # both or neither
        ({"state": "closed"}, "state"),  # closing has its own endpoint, with a report
        ({"state": "acknowledged"}, "state"),
        ({"state": "flying"}, "state"),
        ({"state": "on_scene", "note": "x" * 2001}, "note"),
        ({}, "state"),
    ]
    for body, field in cases:
        r = await as_a.post(f"{url}/updates", json=body)
        assert r.status_code == 422, body
        assert r.json()["error_id"] == "validation-failed"
        assert r.json()["details"]["fields"][0]["field"] == field, body
    r = await as_a.post(f"{url}/close", json={"report": ""})
    assert r.status_code == 422 and r.json()["details"]["fields"][0]["field"] == "report"
    assert (await as_a.get("/agency/dispatches/0")).status_code == 422
    assert (await as_a.get("/agency/dispatches", params={"limit": 0})).status_code == 422
    assert (await as_a.get("/agency/dispatches", params={"state": "nope"})).status_code == 422


async def test_an_agencys_list_pages_newest_first(
    client: Client, make_agency: MakeAgency, make_ticket: MakeTicket
) -> None:
    agency = await make_agency()
    ids = []
    for _ in range(5):
        ticket = await make_ticket()
        r = await client(Role.CALLTAKER).post(
            f"/tickets/{ticket.id}/dispatches", json={"agency_codes": [agency.code]}
        )
        ids.append(r.json()[0]["id"])
    as_agency = client(Role.AGENCY, agency_id=agency.id)
    first = (await as_agency.get("/agency/dispatches", params={"limit": 2})).json()
    assert [d["id"] for d in first["items"]] == ids[::-1][:2]
    second = (
        await as_agency.get(
            "/agency/dispatches", params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert [d["id"] for d in second["items"]] == ids[::-1][2:4]
    await as_agency.post(f"/agency/dispatches/{ids[0]}/acknowledge")
    acked = (await as_agency.get("/agency/dispatches", params={"state": "acknowledged"})).json()
    assert [d["id"] for d in acked["items"]] == [ids[0]]
    assert acked["next_cursor"] is None
