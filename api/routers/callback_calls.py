"""Callbacks: ``POST /tickets/{id}/callbacks`` has Asterisk call the citizen back through the
trunk and ring the call taker's phone; the call is recorded and joins the ticket."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CentreStaff, EntityId, Session
from services.callbacks import service as callbacks

router = APIRouter(prefix="/tickets", tags=["callbacks"])


class CallbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # another number than the ticket's (the reporter's callback number is the default)
    number: str | None = Field(default=None, max_length=32)
    # the phone to ring (default: the signed-in call taker's own SIP account)
    calltaker: str | None = Field(default=None, max_length=64)


@router.post("/{ticket_id}/callbacks", status_code=201)
async def start_callback(
    ticket_id: EntityId,
    principal: CentreStaff,
    session: Session,
    body: Annotated[CallbackIn | None, Body()] = None,
) -> dict[str, Any]:
    body = body or CallbackIn()
    callback = await callbacks.request(
        session, ticket_id, principal, number=body.number, calltaker=body.calltaker
    )
    await session.commit()
    return callback.view()


worklist_router = APIRouter(prefix="/callbacks", tags=["callbacks"])


@worklist_router.get("/worklist")
async def callback_worklist(
    _: CentreStaff,
    session: Session,
    hours: Annotated[int, Query(ge=1, le=168)] = 24,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    """Dropped, abandoned and silent calls not called back yet, newest first."""
    return {"items": await callbacks.worklist(session, hours, limit)}
