"""The call taker's form, classification, the lifecycle over HTTP, the audit log and finding
tickets."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from core.timeutil import utcnow
from models import Agency, Call, CallEvent, Dispatch
from services.tickets import query as ticket_query
from tests.api.conftest import Client, MakeTicket, People


async def test_the_form_fills_the_ticket_moves_it_to_in_progress_and_is_audited(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    ct = await client(people.calltaker)
    r = await ct.patch(
        f"/tickets/{ticket.id}",
        json={
            "reporter_name": "Budi",
            "callback_number": "0812-3456-7890",
            "location_text": "Pasar Kayuagung",
            "latitude": -3.39,
            "longitude": 104.83,
            "victims": "count",
            "victims_count": 2,
            "category": "FIRE",
            "priority": 8,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "in_progress"
    assert body["callback_number"] == "+6281234567890"
    assert body["assigned_to"] == people.calltaker
    sup = await client(people.supervisor)
    audit = (await sup.get(f"/tickets/{ticket.id}/audit")).json()
    update = next(e for e in audit if e["action"] == "ticket.update")
    assert update["actor"] == people.calltaker
    assert update["before"]["reporter_name"] is None
    assert update["after"]["reporter_name"] == "Budi"
    assert any(
        e["action"] == "ticket.state" and e["after"] == {"state": "in_progress"} for e in audit
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"latitude": 91, "longitude": 100}, "latitude"),
        ({"latitude": -3.1, "longitude": 181}, "longitude"),
        ({"latitude": -3.1}, "latitude and longitude go together"),
        ({"victims": "count"}, "victims_count is required"),
        ({"victims": "none", "victims_count": 3}, "victims_count goes with"),
        ({"victims": "many"}, "victims"),
        ({"victims": "count", "victims_count": -1}, "victims_count"),
        ({"category": "UFO"}, "unknown category"),
        ({"priority": 0}, "priority"),
        ({"priority": 11}, "priority"),
        ({"reporter_name": "x" * 201}, "reporter_name"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_every_form_rule_refuses_bad_input_naming_the_field(
    client: Client, people: People, make_ticket: MakeTicket, body: dict[str, object], field: str
) -> None:
    ticket = await make_ticket()
    ct = await client(people.calltaker)
    r = await ct.patch(f"/tickets/{ticket.id}", json=body)
    assert r.status_code == 422
    assert r.json()["error_id"] == "validation-failed"
    assert field in str(r.json()["details"])


async def test_a_stale_form_is_refused_and_nothing_is_lost(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    ct = await client(people.calltaker)
    first = await ct.patch(f"/tickets/{ticket.id}", json={"description": "Api besar"})
    seen_before = (utcnow() - timedelta(hours=1)).isoformat()
    r = await ct.patch(
        f"/tickets/{ticket.id}", json={"description": "ditimpa", "if_unmodified_since": seen_before}
    )
    assert first.status_code == 200
    assert r.status_code == 409
    assert r.json()["error_id"] == "stale-ticket"
    view = await ct.get(f"/tickets/{ticket.id}")
    assert view.json()["description"] == "Api besar"


@pytest.mark.parametrize("classification", ["prank", "ghost", "information"])
async def test_prank_ghost_and_information_calls_close_the_ticket(
    client: Client, people: People, make_ticket: MakeTicket, classification: str
) -> None:
    ticket = await make_ticket()
    ct = await client(people.calltaker)
    r = await ct.post(
        f"/tickets/{ticket.id}/classification", json={"classification": classification}
    )
    assert r.status_code == 200
    assert r.json()["classification"] == classification
    assert r.json()["classified_by"] == people.calltaker
    assert r.json()["state"] == "closed"


async def test_a_real_emergency_stays_open_for_dispatch(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    ct = await client(people.calltaker)
    r = await ct.post(f"/tickets/{ticket.id}/classification", json={"classification": "emergency"})
    assert r.json()["state"] == "in_progress"


async def test_a_dispatched_ticket_cannot_become_a_prank(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(state="dispatched", classification="emergency")
    ct = await client(people.calltaker)
    r = await ct.post(f"/tickets/{ticket.id}/classification", json={"classification": "prank"})
    assert r.status_code == 409
    assert r.json()["error_id"] == "classification-locked"


async def test_a_wrong_transition_is_refused_with_a_clear_error(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(state="closed")
    sup = await client(people.supervisor)
    r = await sup.post(f"/tickets/{ticket.id}/transition", json={"state": "in_progress"})
    assert r.status_code == 409
    assert r.json()["error_id"] == "invalid-transition"
    assert r.json()["details"]["from"] == "closed"
    ok = await sup.post(
        f"/tickets/{(await make_ticket()).id}/transition", json={"state": "cancelled"}
    )
    assert ok.json()["state"] == "cancelled"


async def test_a_missing_ticket_is_a_404_json(client: Client, people: People) -> None:
    ct = await client(people.calltaker)
    r = await ct.get("/tickets/999999999")
    assert r.status_code == 404
    assert r.json()["error_id"] == "not-found"


async def test_the_audit_log_cannot_be_changed_or_deleted_even_in_the_database(
    engine: AsyncEngine,
) -> None:
    for statement in (
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="append-only"):
                await conn.execute(text(statement))


async def test_keyset_pages_return_every_ticket_exactly_once(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    caller = "+62899" + str(secrets.randbelow(10**6)).zfill(6)
    made = {(await make_ticket(caller_number=caller)).id for _ in range(7)}
    ct = await client(people.calltaker)
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, object] = {"caller": caller, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await ct.get("/tickets", params=params)).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen, reverse=True)


async def test_filters_find_tickets_by_state_classification_text_and_time(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    word = "kebakaran" + secrets.token_hex(3)
    hit = await make_ticket(
        description=f"Gudang {word} di pasar",
        state="in_progress",
        classification="emergency",
        category="FIRE",
    )
    await make_ticket(description="Banjir", state="closed", classification="prank")
    ct = await client(people.calltaker)
    found = (await ct.get("/tickets", params={"q": word})).json()["items"]
    assert [t["id"] for t in found] == [hit.id]
    by_number = (await ct.get("/tickets", params={"q": hit.number})).json()["items"]
    assert [t["id"] for t in by_number] == [hit.id]
    both = await ct.get(
        "/tickets",
        params={
            "q": word,
            "state": ["in_progress"],
            "classification": ["emergency"],
            "category": ["FIRE"],
        },
    )
    assert [t["id"] for t in both.json()["items"]] == [hit.id]
    none = await ct.get("/tickets", params={"q": word, "state": ["closed"]})
    assert none.json()["items"] == []
    later = (utcnow() + timedelta(minutes=5)).isoformat()
    after = await ct.get("/tickets", params={"q": word, "created_from": later})
    assert after.json()["items"] == []


async def test_search_finds_words_the_form_added_later_newest_first(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    word = "longsor" + secrets.token_hex(3)
    older = await make_ticket(description=f"Tebing {word} di desa")
    newer = await make_ticket(location_text="Jalan Lintas")
    ct = await client(people.calltaker)
    found = (await ct.get("/tickets", params={"q": word})).json()["items"]
    assert [t["id"] for t in found] == [older.id]
    r = await ct.patch(f"/tickets/{newer.id}", json={"location_text": f"Jalan {word} km 4"})
    assert r.status_code == 200, r.text
    found = (await ct.get("/tickets", params={"q": f"{word} jalan"})).json()["items"]
    assert [t["id"] for t in found] == [newer.id]  # every word must appear
    found = (await ct.get("/tickets", params={"q": word.upper()})).json()["items"]
    assert [t["id"] for t in found] == [newer.id, older.id]
    await ct.patch(f"/tickets/{older.id}", json={"description": "Tebing aman"})
    found = (await ct.get("/tickets", params={"q": word})).json()["items"]
    assert [t["id"] for t in found] == [newer.id]
    await ct.patch(f"/tickets/{older.id}", json={"description": f"Lihat tiket {newer.id}"})
    found = (await ct.get("/tickets", params={"q": str(newer.id)})).json()["items"]
    assert [t["id"] for t in found][:2] == [newer.id, older.id]  # by its number, and by the word


async def test_a_list_page_shows_each_ticket_summary(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    caller = "+62899" + str(secrets.randbelow(10**6)).zfill(6)
    ticket = await make_ticket(
        caller_number=caller,
        reporter_name="Siti",
        location_text="Pasar Baru",
        description="Asap tebal",
        category="FIRE",
        priority=7,
    )
    ct = await client(people.calltaker)
    page = (await ct.get("/tickets", params={"caller": caller})).json()
    assert page["next_cursor"] is None
    [item] = page["items"]
    full = (await ct.get(f"/tickets/{ticket.id}")).json()
    assert item["number"] == ticket.number
    for field in ("reporter_name", "location_text", "category", "priority", "created_at"):
        assert item[field] == full[field], field
    assert "description" not in item  # the list shows a summary; the full view has the rest


async def test_a_bad_cursor_is_a_clear_error(client: Client, people: People) -> None:
    ct = await client(people.calltaker)
    r = await ct.get("/tickets", params={"cursor": "garbage!"})
    assert r.status_code == 422
    assert "cursor" in str(r.json()["details"])


async def test_a_closed_ticket_can_be_neither_reclassified_nor_edited(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(state="closed", classification="prank")
    ct = await client(people.calltaker)
    for r in (
        await ct.post(f"/tickets/{ticket.id}/classification", json={"classification": "emergency"}),
        await ct.patch(f"/tickets/{ticket.id}", json={"description": "nanti"}),
    ):
        assert r.status_code == 409
        assert r.json()["error_id"] == "ticket-closed"
    assert (await ct.get(f"/tickets/{ticket.id}")).json()["classification"] == "prank"


@pytest.mark.parametrize("state", ["dispatched", "acknowledged", "on_scene"])
async def test_states_that_follow_dispatches_are_never_set_by_hand(
    client: Client, people: People, make_ticket: MakeTicket, state: str
) -> None:
    ticket = await make_ticket(state="in_progress" if state == "dispatched" else "dispatched")
    sup = await client(people.supervisor)
    r = await sup.post(f"/tickets/{ticket.id}/transition", json={"state": state})
    assert r.status_code == 409
    assert r.json()["error_id"] == "invalid-transition"
    assert r.json()["details"]["to"] == state


async def test_closing_by_hand_needs_a_classification(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(state="in_progress")
    ct = await client(people.calltaker)
    r = await ct.post(f"/tickets/{ticket.id}/transition", json={"state": "closed"})
    assert r.status_code == 409
    assert r.json()["error_id"] == "classification-required"
    await ct.post(f"/tickets/{ticket.id}/classification", json={"classification": "emergency"})
    done = await ct.post(f"/tickets/{ticket.id}/transition", json={"state": "closed"})
    assert done.status_code == 200
    assert done.json()["state"] == "closed"


async def _dispatch_row(engine: AsyncEngine, ticket_id: int, agency_id: int, state: str) -> None:
    async with AsyncSession(engine) as s:
        s.add(Dispatch(ticket_id=ticket_id, agency_id=agency_id, state=state, dispatched_by="sup"))
        await s.commit()


async def test_a_ticket_with_open_dispatches_cannot_be_cancelled(
    client: Client, people: People, make_ticket: MakeTicket, engine: AsyncEngine
) -> None:
    ticket = await make_ticket(state="dispatched", classification="emergency")
    await _dispatch_row(engine, ticket.id, people.agency_id, "acknowledged")
    sup = await client(people.supervisor)
    r = await sup.post(f"/tickets/{ticket.id}/transition", json={"state": "cancelled"})
    assert r.status_code == 409
    assert r.json()["error_id"] == "open-dispatches"
    assert (await sup.get(f"/tickets/{ticket.id}")).json()["state"] == "dispatched"


async def test_the_agency_filter_finds_tickets_dispatched_to_that_agency(
    client: Client, people: People, make_ticket: MakeTicket, engine: AsyncEngine
) -> None:
    caller = "+62877" + str(secrets.randbelow(10**6)).zfill(6)
    mine = await make_ticket(state="dispatched", caller_number=caller)
    theirs = await make_ticket(state="dispatched", caller_number=caller)
    await make_ticket(caller_number=caller)  # never dispatched
    await _dispatch_row(engine, mine.id, people.agency_id, "pending")
    await _dispatch_row(engine, theirs.id, people.other_agency_id, "pending")
    async with AsyncSession(engine) as s:
        code = await s.scalar(select(Agency.code).where(Agency.id == people.agency_id))
    ct = await client(people.calltaker)
    page = (await ct.get("/tickets", params={"caller": caller, "agency": code})).json()
    assert [t["id"] for t in page["items"]] == [mine.id]
    everything = (await ct.get("/tickets", params={"caller": caller})).json()
    assert len(everything["items"]) == 3


async def test_a_tickets_full_view_has_its_calls_timeline_dispatches_and_caller_history(
    client: Client, people: People, make_ticket: MakeTicket, engine: AsyncEngine
) -> None:
    caller = "+62866" + str(secrets.randbelow(10**6)).zfill(6)
    earlier = await make_ticket(caller_number=caller, classification="prank", state="closed")
    ticket = await make_ticket(caller_number=caller)
    now = utcnow()
    async with AsyncSession(engine) as s:
        for t, uid in ((earlier, f"e-{earlier.id}"), (ticket, f"v-{ticket.id}")):
            s.add(
                Call(
                    uniqueid=uid,
                    ticket_id=t.id,
                    caller_number=caller,
                    arrived_at=now - timedelta(seconds=30),
                    answered_at=now - timedelta(seconds=20),
                    calltaker="ct1",
                    outcome="answered",
                    wait_seconds=10,
                )
            )
        s.add(
            CallEvent(
                uniqueid=f"v-{ticket.id}", kind="answered", at=now - timedelta(seconds=20), data={}
            )
        )
        await s.commit()
    ct = await client(people.calltaker)
    await ct.patch(f"/tickets/{ticket.id}", json={"category": "FIRE"})
    await _dispatch_row(engine, ticket.id, people.agency_id, "pending")
    view = (await ct.get(f"/tickets/{ticket.id}")).json()
    assert [c["uniqueid"] for c in view["calls"]] == [f"v-{ticket.id}"]
    assert view["calls"][0]["calltaker"] == "ct1"
    assert view["calls"][0]["wait_seconds"] == 10
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds.index("call.answered") < kinds.index("ticket.update")
    assert [e["at"] for e in view["timeline"]] == sorted(e["at"] for e in view["timeline"])
    assert [d["agency_id"] for d in view["dispatches"]] == [people.agency_id]
    history = view["caller_history"]
    assert history["total"] == 1  # the earlier call; this ticket's own call is not history
    assert history["by_classification"] == {"prank": 1}


async def _plan(connection: AsyncConnection, f: ticket_query.TicketFilter, *off: str) -> str:
    stmt = ticket_query.page_query(f, cursor=None, limit=51)
    sql = str(stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    for setting in off:  # tiny tables: take away the other ways, to see that this one is there
        await connection.execute(text(f"SET LOCAL {setting} = off"))
    return "\n".join((await connection.execute(text(f"EXPLAIN {sql}"))).scalars())


async def test_a_search_reads_rare_words_from_the_gin_index_and_common_ones_newest_first(
    connection: AsyncConnection,
) -> None:
    rare = "ularsawa" + secrets.token_hex(3)
    await connection.execute(
        text(
            "INSERT INTO tickets (state, priority, description) "
            "SELECT 'new', 5, 'pohon tumbang menutup jalan ' || g FROM generate_series(1, 3000) g"
        )
    )
    await connection.execute(
        text("INSERT INTO tickets (state, priority, description) VALUES ('new', 5, :d)"),
        {"d": f"{rare} masuk rumah"},
    )
    await connection.execute(  # the newest: calls just opened, nothing written yet
        text("INSERT INTO tickets (state, priority) SELECT 'new', 5 FROM generate_series(1, 500)")
    )
    await connection.execute(text("ANALYZE tickets"))

    plan = await _plan(connection, ticket_query.TicketFilter(text=rare))
    assert "ix_tickets_search" in plan, plan
    common = ticket_query.TicketFilter(text="pohon tumbang")
    plan = await _plan(connection, common)
    assert "Index Scan Backward using ix_tickets_worded_created_id" in plan, plan
    assert "to_tsvector" not in plan, plan  # the stored document is checked, never recomputed


async def test_a_ticket_number_search_reads_that_ticket_by_its_key(
    connection: AsyncConnection,
) -> None:
    plan = await _plan(connection, ticket_query.TicketFilter(text="T000123"), "enable_seqscan")
    assert "pk_tickets" in plan, plan
    assert "ix_tickets_search" in plan or "ix_tickets_worded_created_id" in plan, plan


async def test_input_the_database_cannot_store_is_a_422_not_a_crash(
    client: Client, people: People, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    ct = await client(people.calltaker)
    listed = await ct.get("/tickets", params={"category": "\x00", "q": "a\x00b"})
    patched = await ct.patch(f"/tickets/{ticket.id}", json={"description": "api\u0000"})
    for r in (listed, patched):
        assert r.status_code == 422, r.text
        assert r.json()["error_id"] == "invalid-input"


async def test_agencies_working_a_ticket_are_sent_its_changes(
    client: Client, people: People, make_ticket: MakeTicket, engine: AsyncEngine
) -> None:
    from sqlalchemy import select, update
    from sqlalchemy.ext.asyncio import AsyncSession

    from models import Agency, Dispatch, OutboxMessage

    ticket = await make_ticket(state="dispatched", classification="emergency", category="FIRE")
    hook = "http://127.0.0.1:9/never-called"  # nothing delivers here: the message is marked sent
    async with AsyncSession(engine) as s:
        await s.execute(
            update(Agency).where(Agency.id == people.agency_id).values(webhook_url=hook)
        )
        s.add(Dispatch(ticket_id=ticket.id, agency_id=people.agency_id, dispatched_by="test"))
        await s.commit()
    ct = await client(people.calltaker)
    r = await ct.patch(f"/tickets/{ticket.id}", json={"access_route": "Lewat jalan desa"})
    assert r.status_code == 200
    async with AsyncSession(engine) as s:
        messages = list(
            await s.scalars(
                select(OutboxMessage).where(OutboxMessage.agency_id == people.agency_id)
            )
        )
    updates = [m for m in messages if m.event_type == "ticket.updated"]
    async with AsyncSession(engine) as s:
        await s.execute(
            update(Agency).where(Agency.id == people.agency_id).values(webhook_url=None)
        )
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.agency_id == people.agency_id)
            .values(state="delivered")
        )
        await s.commit()
    assert len(updates) == 1
    assert "Lewat jalan desa" in str(updates[0].payload)
    assert str(people.other_agency_id) not in {str(m.agency_id) for m in updates}
