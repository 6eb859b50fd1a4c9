"""``/health/ready``'s details (served by api/app.py): what is down. The database answering is
what makes the API ready (503 otherwise); a gateway that stopped beating, a lost AMI link, a spool
backlog or late webhook deliveries make it "degraded" and are named in ``problems``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services import health


async def ready_details(engine: AsyncEngine) -> dict[str, Any]:
    """Raises if the database cannot be reached (the caller answers 503)."""
    async with AsyncSession(engine) as session:
        return await health.readiness(session)
