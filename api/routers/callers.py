"""Caller history, caller flags, the prank policy and the callback worklist.

Call takers (centre staff) read a number's history and the callback worklist; only supervisors
(and admins) set or lift flags and change the policy: a flag changes how a citizen is queued, so it
is a supervisor's decision, audited (entity "caller_flag" / "triage_policy").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CentreStaff, Session, Supervisor
from core.errors import ValidationFailed
from services.triage import autoclassify
from services.triage import decide as triage
from services.triage import history as caller_history
from services.triage.policy import PolicyError
from services.triage.schemas import FlagIn, LiftIn, PolicyIn

router = APIRouter(tags=["callers"])


@router.get("/callers/flags")
async def list_flags(
    _: Supervisor,
    session: Session,
    active: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    """Hand-set flags (``active=true``: running and not lifted), newest first, and the numbers the
    prank policy flags now (``policy``, highest score first)."""
    return {
        "items": await caller_history.list_flags(session, active_only=active, limit=limit),
        "policy": await caller_history.policy_flagged(session, limit=limit),
    }


@router.get("/callers/{number}/history")
async def history(
    number: str,
    _: CentreStaff,
    session: Session,
    hours: Annotated[float, Query(gt=0, le=caller_history.MAX_WINDOW_HOURS)] = 24,
) -> dict[str, Any]:
    normalised = caller_history.number_or_error(number)
    return await caller_history.summary(session, normalised, window_hours=hours)


@router.get("/callers/{number}/flags")
async def number_flags(number: str, _: Supervisor, session: Session) -> dict[str, Any]:
    normalised = caller_history.number_or_error(number)
    return {
        "items": await caller_history.list_flags(session, normalised),
        "audit": await caller_history.flag_audit(session, normalised),
    }


@router.post("/callers/{number}/flags", status_code=201)
async def set_flag(
    number: str, body: FlagIn, principal: Supervisor, session: Session
) -> dict[str, Any]:
    flag = await caller_history.set_flag(
        session,
        number,
        actor=principal.username,
        reason=body.reason,
        hours=body.hours,
        priority_penalty=body.priority_penalty,
    )
    await session.commit()
    return flag


@router.post("/callers/{number}/lift")
@router.post("/callers/{number}/flags/lift")
async def lift(
    number: str, principal: Supervisor, session: Session, body: LiftIn | None = None
) -> dict[str, Any]:
    flag = await caller_history.lift(
        session, number, actor=principal.username, reason=body.reason if body else None
    )
    await session.commit()
    return flag


@router.delete("/callers/{number}/flags")
async def delete_flags(number: str, principal: Supervisor, session: Session) -> dict[str, Any]:
    """Same as POST .../lift: flags are never deleted, a lift is recorded."""
    flag = await caller_history.lift(session, number, actor=principal.username)
    await session.commit()
    return flag


@router.get("/triage/policy")
async def get_policy(_: Supervisor, session: Session) -> dict[str, Any]:
    return (await triage.load_settings(session, fresh=True)).to_dict()


@router.put("/triage/policy")
async def put_policy(body: PolicyIn, principal: Supervisor, session: Session) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    try:
        settings = await triage.save_settings(session, changes, actor=principal.username)
    except PolicyError as exc:
        raise ValidationFailed(
            "Pengaturan kebijakan tidak valid / invalid policy settings", {"problem": str(exc)}
        ) from exc
    await session.commit()
    return settings.to_dict()


@router.get("/callbacks")
async def callbacks(
    _: CentreStaff,
    session: Session,
    hours: Annotated[float, Query(gt=0, le=24 * 7)] = 24,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Callers to call back: missed calls with no later successful contact, newest first."""
    return {"items": await autoclassify.callback_worklist(session, hours=hours, limit=limit)}
