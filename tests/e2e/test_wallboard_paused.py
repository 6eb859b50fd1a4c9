"""The wallboard's paused call takers come from Asterisk itself, through the gateway's AMI link."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.settings import Settings
from services import health
from services.reports import wallboard
from tests.e2e.conftest import GatewayProcess, eventually


async def _paused(engine: AsyncEngine) -> int | None:
    async with AsyncSession(engine) as session:
        count = await health.calltakers_paused(session)
    return count or None


async def test_call_takers_paused_in_asterisk_show_as_paused_on_the_wallboard(
    gateway: GatewayProcess,
    calltakers_paused: None,
    e2e_settings: Settings,
    engine: AsyncEngine,
) -> None:
    accounts = [ct.account for ct in e2e_settings.asterisk.calltakers]
    assert await eventually(lambda: _paused(engine), timeout=30) == len(accounts)
    async with AsyncSession(engine) as session:
        board = await wallboard.summary(session, accounts, e2e_settings.timezone)
    assert board.calltakers_paused == len(accounts)
    assert board.free == 0
