"""The API's periodic AML matcher: positions that came before their tickets join them within
``SIAGA_AML__MATCH_EVERY_SECONDS`` of the ticket being written, read or not
(services.aml.service)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import AmlSettings
from services.aml import service as aml

log = logging.getLogger(__name__)


async def run(sessionmaker: async_sessionmaker[AsyncSession], settings: AmlSettings) -> None:
    """Match waiting positions every ``match_every_seconds`` until cancelled."""
    while True:
        await asyncio.sleep(settings.match_every_seconds)
        try:
            async with sessionmaker() as session:
                if await aml.match_pending(session, settings):
                    await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database away: the next pass tries again
            log.exception("aml: matching waiting positions failed")
