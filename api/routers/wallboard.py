"""Read-only figures for the supervisor's wallboard and map (and the call taker's top bar)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import CentreStaff, Session
from core.settings import Settings
from services.reports import wallboard

router = APIRouter(prefix="/wallboard", tags=["wallboard"])


@router.get("/summary")
async def summary(request: Request, session: Session, _: CentreStaff) -> dict[str, Any]:
    """Callers waiting, longest wait, call takers free / on a call / paused, answered within 10 s
    today (share of calls offered to the queue since midnight in the centre's zone)."""
    settings: Settings = request.app.state.settings
    accounts = [c.account for c in settings.asterisk.calltakers]
    result = await wallboard.summary(session, accounts, settings.timezone)
    return result.as_dict()


@router.get("/map")
async def map_items(session: Session, _: CentreStaff) -> dict[str, list[dict[str, Any]]]:
    """Open tickets (not prank or ghost) and each open dispatch's last reported position."""
    return await wallboard.map_items(session)
