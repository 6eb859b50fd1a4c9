"""End to end: a real SIPp caller dials 112 on the real Asterisk, the gateway opens the ticket, a
call taker's SIPp softphone answers, and that call taker's console opens the ticket by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.names import Role
from core.settings import Settings, UiSettings
from models import Call
from ops.sipp import SippRunner
from tests.conftest import free_port
from tests.e2e.conftest import GatewayProcess, eventually, unique_number
from tests.ui.conftest import (  # noqa: F401  (the browser fixture)
    ApiServer,
    browser,
    login,
    make_person,
    screenshot,
)


@pytest.fixture(scope="module")
def e2e_api(e2e_settings: Settings) -> Iterator[ApiServer]:
    # the same centre as the gateway's, with the map's tile server on a closed loopback port
    tiles = UiSettings(tile_url=f"http://127.0.0.1:{free_port()}/{{z}}/{{x}}/{{y}}.png")
    server = ApiServer(e2e_settings.model_copy(update={"ui": tiles}))
    server.start()
    yield server
    server.stop()


async def test_sipp_call_answered_by_a_softphone_opens_its_ticket_in_that_call_takers_console(
    gateway: GatewayProcess,
    sipp: SippRunner,
    e2e_api: ApiServer,
    browser: Any,  # noqa: F811
    engine: AsyncEngine,
) -> None:
    consoles: dict[str, Any] = {}
    contexts = []
    for account in ("ct1", "ct2"):
        person = await make_person(engine, Role.CALLTAKER, sip_account=account)
        context = await browser.new_context(
            viewport={"width": 1600, "height": 900}, base_url=e2e_api.url
        )
        contexts.append(context)
        page = await context.new_page()
        await login(page, person, "console")
        await page.wait_for_selector("[data-testid=live].ok")
        consoles[account] = page
    number = unique_number()

    try:
        caller = asyncio.create_task(sipp.call([number]))
        call = await eventually(lambda: _answered(engine, number), timeout=30)
        page = consoles[call.calltaker]
        shown = page.get_by_test_id("ticket-number")
        await shown.wait_for(timeout=15_000)
        assert await shown.inner_text() == f"T{call.ticket_id:06d}"
        assert await page.get_by_test_id("caller-number").inner_text() != ""
        await screenshot(page, "09-console-e2e-sipp-call")
        (other,) = [p for a, p in consoles.items() if a != call.calltaker]
        assert await other.get_by_test_id("ticket-number").count() == 0
        result = await caller
        assert result.ok, result.stderr

        # once Asterisk has written the recording, the call taker plays it back in the console
        await eventually(lambda: _recorded(engine, number), timeout=30)
        before = await page.locator("#ticket").get_attribute("data-render")
        await page.get_by_test_id("ticket-item").filter(has_text=f"T{call.ticket_id:06d}").click()
        await page.wait_for_function(
            f"document.getElementById('ticket').dataset.render !== '{before}'"
        )
        await page.get_by_test_id("play-recording").click()
        await page.wait_for_function(
            "document.querySelector('.player audio')?.src.startsWith('blob:')"
            " && document.querySelector('.player audio').duration > 1"
        )
        await screenshot(page, "11-console-e2e-recording")
    finally:
        for context in contexts:
            await context.close()


async def _answered(engine: AsyncEngine, number: str) -> Call | None:
    async with AsyncSession(engine) as session:
        call = (
            await session.execute(select(Call).where(Call.caller_number_raw == number))
        ).scalar_one_or_none()
        if call is not None and call.answered_at is not None and call.calltaker and call.ticket_id:
            return call
        return None


async def _recorded(engine: AsyncEngine, number: str) -> bool:
    async with AsyncSession(engine) as session:
        path = (
            await session.execute(
                select(Call.recording_path).where(Call.caller_number_raw == number)
            )
        ).scalar_one_or_none()
        return bool(path)
