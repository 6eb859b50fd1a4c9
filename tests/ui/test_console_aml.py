"""The call taker's console shows the phone's own position (AML) as it comes, in a real headless
Chromium against the real API and PostgreSQL."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.names import Role
from core.settings import AmlSettings
from models import Ticket
from services.aml import service as aml
from services.aml.parse import parse_sms
from tests.ui.conftest import login, make_person, screenshot
from tests.ui.test_consoles import gateway_answers, live


async def test_aml_position_shows_on_the_open_ticket_and_fills_empty_coordinates(
    new_page: Any, engine: AsyncEngine
) -> None:
    account = f"ct-{secrets.token_hex(3)}"
    person = await make_person(engine, Role.CALLTAKER, sip_account=account)
    page = await new_page()
    await login(page, person, "console")
    await live(page)
    ticket_id = await gateway_answers(engine, account)
    await page.get_by_test_id("ticket-number").wait_for()

    async with AsyncSession(engine, expire_on_commit=False) as session:
        number = await session.scalar(select(Ticket.caller_number).where(Ticket.id == ticket_id))
        assert number is not None
        text = 'A"ML=1;lt=-3.31234;lg=104.91234;rd=52;top=20251112112928;lc=68;pm=G;ml=70'
        settings = AmlSettings(token=SecretStr(secrets.token_urlsafe(24)))
        _, matched = await aml.receive(session, parse_sms(number, text), settings)
        await session.commit()
    assert matched is not None and matched.id == ticket_id

    line = page.get_by_test_id("aml")
    await line.get_by_text("Lokasi AML: -3.31234, 104.91234 (±52 m, GPS, 68%)").wait_for()
    assert "null" not in await line.inner_text()  # nothing stands in for the absent copy button
    assert await page.locator("#f-latitude").input_value() == "-3.31234"
    assert await page.locator("#f-longitude").input_value() == "104.91234"
    await screenshot(page, "20-console-aml-position")
