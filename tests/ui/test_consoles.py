"""The consoles in a real headless Chromium against the real API, real PostgreSQL, real SSE.

Each test saves screenshots of the screens it passes through to test-artifacts/ui/.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.names import CallOutcome, Role, StreamEvent, TicketState
from core.timeutil import utcnow
from models import Agency, Call, Dispatch, Ticket
from services import events
from tests.ui.conftest import eventually, login, make_person, screenshot

# Where the field officer's phone says it is (Kayuagung), and where the incident is.
OFFICER_POSITION = {"latitude": -3.3951, "longitude": 104.8330}
INCIDENT = (-3.3946, 104.8322)


async def gateway_answers(engine: AsyncEngine, calltaker: str) -> int:
    """What the gateway does when a call taker's phone picks up a 112 call: the call and its ticket
    exist, and ``call.answered`` goes out on the live stream as the transaction commits."""
    now = utcnow()
    number = "+62812" + f"{secrets.randbelow(10**8):08d}"
    async with AsyncSession(engine, expire_on_commit=False) as session:
        ticket = Ticket(
            state=TicketState.NEW.value,
            caller_number=number,
            caller_number_raw="0" + number[3:],
            assigned_to=calltaker,
        )
        session.add(ticket)
        await session.flush()
        uniqueid = f"ui-{secrets.token_hex(6)}"
        session.add(
            Call(
                uniqueid=uniqueid,
                ticket_id=ticket.id,
                caller_number=number,
                arrived_at=now - timedelta(seconds=12),
                queued_at=now - timedelta(seconds=8),
                answered_at=now,
                calltaker=calltaker,
                outcome=CallOutcome.IN_PROGRESS.value,
            )
        )
        await events.publish(
            session,
            StreamEvent.CALL_ANSWERED,
            {"ticket_id": ticket.id, "calltaker": calltaker, "uniqueid": uniqueid},
        )
        await session.commit()
        return ticket.id


async def live(page: Any) -> None:
    await page.wait_for_selector("[data-testid=live].ok")


async def test_console_refuses_a_user_without_the_right_role(
    new_page: Any, engine: AsyncEngine
) -> None:
    agency = await make_person(engine, Role.AGENCY, agency_code="damkar")
    calltaker = await make_person(engine, Role.CALLTAKER, sip_account="ct9")

    page = await new_page()
    await login(page, agency, "console")
    refused = page.get_by_test_id("refused")
    await refused.wait_for()
    text = await refused.inner_text()
    assert "Akses ditolak" in text and agency.username in text and "Instansi" in text
    assert await page.locator("#ticket").count() == 0
    await screenshot(page, "01-console-refuses-agency")

    other = await new_page()
    await login(other, calltaker, "supervisor")
    await other.get_by_test_id("refused").wait_for()
    assert await other.locator("#map").count() == 0


async def test_answered_call_opens_its_ticket_in_that_call_takers_console_only(
    new_page: Any, engine: AsyncEngine
) -> None:
    mine = f"ct-{secrets.token_hex(3)}"
    theirs = f"ct-{secrets.token_hex(3)}"
    sari = await make_person(engine, Role.CALLTAKER, sip_account=mine)
    budi = await make_person(engine, Role.CALLTAKER, sip_account=theirs)
    page = await new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await login(page, sari, "console")
    other = await new_page()
    await login(other, budi, "console")
    await live(page)
    await live(other)
    await page.get_by_test_id("idle").wait_for()
    await screenshot(page, "02-console-waiting")

    ticket_id = await gateway_answers(engine, mine)

    number = page.get_by_test_id("ticket-number")
    await number.wait_for()
    assert await number.inner_text() == f"T{ticket_id:06d}"
    assert await page.locator("#f-reporter_name").evaluate("el => el === document.activeElement")
    await screenshot(page, "03-console-call-answered")
    # the token travels in headers only, never in a URL an access log would keep
    assert requested and not [url for url in requested if "token" in urlsplit(url).query]
    # the other call taker's console stays as it was
    assert await other.get_by_test_id("idle").is_visible()
    assert await other.get_by_test_id("ticket-number").count() == 0


async def test_dispatch_reaches_the_agency_whose_on_scene_position_shows_on_the_supervisors_map(
    new_page: Any, engine: AsyncEngine
) -> None:
    sip = f"ct-{secrets.token_hex(3)}"
    calltaker = await make_person(engine, Role.CALLTAKER, sip_account=sip)
    supervisor = await make_person(engine, Role.SUPERVISOR)
    agency = await make_person(engine, Role.AGENCY, agency_code="damkar")

    boss = await new_page()
    await login(boss, supervisor, "supervisor")
    await live(boss)
    await boss.get_by_test_id("wb-waiting").wait_for()
    await boss.evaluate("window.__sameDocument = true")  # gone if the page ever reloads

    console = await new_page()
    await login(console, calltaker, "console")
    await live(console)
    ticket_id = await gateway_answers(engine, sip)
    await console.get_by_test_id("ticket-number").wait_for()

    # the call taker fills the form from the keyboard, classifies and dispatches
    await console.fill("#f-reporter_name", "Ahmad Fauzi")
    await console.fill("#f-location_text", "Pasar Kayuagung, ruko dekat masjid")
    await console.fill("#f-kecamatan", "Kayuagung")
    await console.fill("#f-desa", "Sidakersa")
    await console.fill("#f-latitude", str(INCIDENT[0]))
    await console.fill("#f-longitude", str(INCIDENT[1]))
    await console.check("input[name=victims][value=none]", force=True)
    await console.fill("#f-access_route", "Jl. Letnan Mukmin, masuk dari gerbang pasar")
    await console.select_option("#f-category", "FIRE")
    await console.fill("#f-description", "Asap tebal dari ruko dua lantai, api terlihat")
    await console.keyboard.press("Alt+1")
    await console.locator("[data-testid=class-emergency].selected").wait_for()
    await console.locator("#agency-chips input[data-code=damkar]").wait_for()
    await screenshot(console, "04-console-form-filled")
    await console.keyboard.press("Control+Enter")
    await console.get_by_test_id("dispatch-row").first.wait_for()
    await screenshot(console, "05-console-dispatched")

    async with AsyncSession(engine) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        assert (ticket.reporter_name, ticket.category, ticket.classification) == (
            "Ahmad Fauzi",
            "FIRE",
            "emergency",
        )
        # other test agencies may serve fires too; this story follows Damkar's dispatch
        dispatch = (
            await session.execute(
                select(Dispatch)
                .join(Agency, Agency.id == Dispatch.agency_id)
                .where(Dispatch.ticket_id == ticket_id, Agency.code == "damkar")
            )
        ).scalar_one()

    # the agency's officer, on a phone in the field, sees it, acknowledges and arrives
    phone = await new_page(
        width=412,
        height=915,
        mobile=True,
        geolocation=OFFICER_POSITION,
        permissions=["geolocation"],
    )
    await login(phone, agency, "agency")
    card = phone.locator(f"[data-testid=dispatch-card][data-dispatch-id='{dispatch.id}']")
    await card.wait_for()
    assert "Ahmad Fauzi" in await card.inner_text() or "Pasar Kayuagung" in await card.inner_text()
    await phone.fill("#officer-name", "Rudi Hartono")
    await card.get_by_test_id("action-acknowledge").click()
    await card.get_by_test_id("action-on_scene").click()
    await phone.locator(
        f"[data-testid=dispatch-card][data-dispatch-id='{dispatch.id}'][data-state=on_scene]"
    ).wait_for()
    await screenshot(phone, "06-agency-on-scene")

    # the supervisor's map shows the ticket and the officer on scene, without a reload
    unit = boss.locator(f".marker-unit[data-dispatch-id='{dispatch.id}'][data-state=on_scene]")
    await unit.wait_for()
    await boss.locator(f".marker-ticket[data-ticket-id='{ticket_id}']").wait_for()
    assert await boss.evaluate("window.__sameDocument === true")
    await screenshot(boss, "07-supervisor-map")
    # other tests' tickets may sit at the same spot and cover this marker: click it directly
    await boss.locator(f".marker-ticket[data-ticket-id='{ticket_id}']").dispatch_event("click")
    panel = boss.get_by_test_id("ticket-panel")
    await panel.wait_for()
    assert f"T{ticket_id:06d}" in await panel.inner_text()
    await eventually(lambda: boss.get_by_test_id("timeline").locator("li").count())
    await screenshot(boss, "08-supervisor-timeline")

    async with AsyncSession(engine) as session:
        stored = await session.get(Dispatch, dispatch.id)
        assert stored is not None and stored.state == "on_scene"


async def test_callers_who_gave_up_are_on_the_call_takers_callback_list(
    new_page: Any, engine: AsyncEngine
) -> None:
    calltaker = await make_person(engine, Role.CALLTAKER, sip_account=f"ct-{secrets.token_hex(3)}")
    number = "+62813" + f"{secrets.randbelow(10**8):08d}"
    now = utcnow()
    async with AsyncSession(engine) as session:
        ticket = Ticket(state=TicketState.NEW.value, caller_number=number)
        session.add(ticket)
        await session.flush()
        session.add(
            Call(
                uniqueid=f"ui-{secrets.token_hex(6)}",
                ticket_id=ticket.id,
                caller_number=number,
                arrived_at=now - timedelta(minutes=3),
                queued_at=now - timedelta(minutes=3),
                ended_at=now - timedelta(minutes=2),
                outcome=CallOutcome.ABANDONED.value,
            )
        )
        await session.commit()

    page = await new_page()
    await login(page, calltaker, "console")
    await page.get_by_test_id("tab-callbacks").click()
    item = page.get_by_test_id("callback-item").filter(has_text=number)
    await item.wait_for()
    assert "Menutup saat antre" in await item.inner_text()
    await screenshot(page, "10-console-callbacks")
    await item.click()
    await page.get_by_test_id("ticket-number").wait_for()
    assert await page.get_by_test_id("caller-number").inner_text() == number
