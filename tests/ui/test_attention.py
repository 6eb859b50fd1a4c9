"""The supervisor's "Perlu perhatian" list in a real headless Chromium against the real API and
PostgreSQL: webhooks delivery gave up on, redelivered with one click, and dispatches no agency has
acknowledged in time."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.names import DeliveryState, DispatchState, Role, TicketState
from core.settings import WebhookSettings
from core.timeutil import utcnow
from models import Agency, Dispatch, OutboxMessage, Ticket
from services.dispatch import delivery
from services.dispatch.outbox import new_message_id
from tests.ui.conftest import ApiServer, eventually, login, make_person, screenshot

HOOK = "http://127.0.0.1:9/hook"  # never called: no delivery worker runs beside the UI's API


async def agency(engine: AsyncEngine, name: str, webhook_url: str | None) -> Agency:
    """An agency of this test's own, serving no category (no other test suggests it)."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        a = Agency(
            code="t" + secrets.token_hex(6), name=name, categories=[], webhook_url=webhook_url
        )
        session.add(a)
        await session.commit()
        return a


async def pending_dispatch(
    engine: AsyncEngine, to: Agency, category: str, age: timedelta
) -> tuple[Ticket, Dispatch]:
    """A ticket dispatched to ``to`` ``age`` ago, still not acknowledged."""
    sent = utcnow() - age
    async with AsyncSession(engine, expire_on_commit=False) as session:
        ticket = Ticket(state=TicketState.DISPATCHED.value, category=category)
        session.add(ticket)
        await session.flush()
        d = Dispatch(
            ticket_id=ticket.id,
            agency_id=to.id,
            state=DispatchState.PENDING.value,
            dispatched_by="ct1",
            created_at=sent,
        )
        session.add(d)
        await session.commit()
        return ticket, d


async def message(
    engine: AsyncEngine, d: Dispatch, state: DeliveryState, **fields: Any
) -> OutboxMessage:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        m = OutboxMessage(
            message_id=new_message_id(),
            agency_id=d.agency_id,
            dispatch_id=d.id,
            event_type="dispatch.created",
            payload={"type": "dispatch.created"},
            state=state.value,
            next_attempt_at=d.created_at,
            created_at=d.created_at,
            **fields,
        )
        session.add(m)
        await session.commit()
        return m


async def delivery_gives_up(engine: AsyncEngine, m: OutboxMessage, to: Agency) -> None:
    """What a delivery worker writes when it gives up on a message it claimed."""
    now = utcnow()
    outcome = delivery.Outcome(
        claimed=delivery.Claimed(
            id=m.id,
            message_id=m.message_id,
            agency_id=to.id,
            agency_code=to.code,
            attempt=m.attempts,
            body=b"{}",
            window_start=m.created_at,
            url=to.webhook_url,
            usable=True,
        ),
        result=delivery.Result.GONE,
        started_at=now,
        ended_at=now,
        worker="ui-test",
        status_code=410,
        error="HTTP 410",
    )
    async with AsyncSession(engine) as session:
        await delivery.record(session, [outcome], WebhookSettings())
        await session.commit()


async def state_of(engine: AsyncEngine, m: OutboxMessage) -> OutboxMessage:
    async with AsyncSession(engine) as session:
        return await session.get_one(OutboxMessage, m.id)


async def test_supervisor_redelivers_a_failed_webhook_and_sees_dispatches_not_acknowledged(
    new_page: Any, engine: AsyncEngine, api_server: ApiServer
) -> None:
    damkar = await agency(engine, "Damkar Uji Perhatian", HOOK)
    psc = await agency(engine, "PSC 119 Uji Perhatian", None)  # uses the agency view
    fire, to_damkar = await pending_dispatch(engine, damkar, "FIRE", timedelta(minutes=10))
    medical, to_psc = await pending_dispatch(engine, psc, "MEDICAL", timedelta(minutes=4))
    _, just_sent = await pending_dispatch(engine, psc, "FIRE", timedelta(seconds=5))
    dead = await message(
        engine,
        to_damkar,
        DeliveryState.DEAD,
        attempts=7,
        dead_at=utcnow() - timedelta(minutes=1),
        last_error="gave up after 7 attempts: HTTP 503",
    )
    supervisor = await make_person(engine, Role.SUPERVISOR)

    try:
        page = await new_page()
        await login(page, supervisor, "supervisor")
        await page.wait_for_selector("[data-testid=live].ok")
        await page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
        tile = page.locator("[data-testid=wb-attention].bad")
        await tile.wait_for()
        assert "perlu perhatian" in (await tile.inner_text()).lower()
        await tile.click()

        row = page.locator(f"[data-testid=dead-letter][data-message-id='{dead.message_id}']")
        await row.wait_for()
        text = await row.inner_text()
        assert "Damkar Uji Perhatian" in text and fire.number in text
        assert "Penugasan baru" in text and "7 percobaan" in text and "HTTP 503" in text
        waiting = page.locator(f"[data-testid=overdue-dispatch][data-dispatch-id='{to_psc.id}']")
        text = await waiting.inner_text()
        assert "PSC 119 Uji Perhatian" in text and medical.number in text
        assert "menunggu" in text and "Tanpa webhook" in text
        hooked = page.locator(f"[data-testid=overdue-dispatch][data-dispatch-id='{to_damkar.id}']")
        assert "Gagal terkirim" in await hooked.inner_text()
        young = page.locator(f"[data-testid=overdue-dispatch][data-dispatch-id='{just_sent.id}']")
        assert await young.count() == 0  # dispatched seconds ago: not overdue yet
        await screenshot(page, "20-supervisor-attention")

        # one click puts the message back in line; the row goes and a toast says so
        await row.get_by_test_id("redeliver").click()
        await row.wait_for(state="detached")
        toast = page.locator("#toast.show")
        assert "masuk antrean" in await toast.inner_text()
        stored = await state_of(engine, dead)
        assert stored.state == DeliveryState.PENDING.value and stored.dead_at is None
        await screenshot(page, "21-supervisor-redelivered")

        # delivery gives up on another message: it shows up without a reload
        later = await message(engine, to_damkar, DeliveryState.DELIVERING, attempts=2)
        await delivery_gives_up(engine, later, damkar)
        fresh = page.locator(f"[data-testid=dead-letter][data-message-id='{later.message_id}']")
        await fresh.wait_for()
        assert "HTTP 410" in await fresh.inner_text()
        assert await page.evaluate("window.__sameDocument === true")

        # redelivering to an endpoint a 410 disabled is refused: the server's reason is shown
        await fresh.get_by_test_id("redeliver").click()
        error = page.locator("#toast.show.toast-error")
        await error.wait_for()
        assert "nonaktif" in await error.inner_text()
        assert (await state_of(engine, later)).state == DeliveryState.DEAD.value
        await eventually(lambda: fresh.is_visible())
    finally:
        async with AsyncSession(engine) as session:
            await session.execute(
                update(Agency).where(Agency.id.in_([damkar.id, psc.id])).values(active=False)
            )
            await session.commit()
