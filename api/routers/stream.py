"""The consoles' live stream (Server-Sent Events): ticket opened or updated, call answered by
call taker X, dispatch updates. Agencies get only events about their own dispatches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api.deps import CurrentPrincipal, Session
from core.names import Role, StreamEvent
from models import Agency
from services.users.auth import Principal

router = APIRouter(prefix="/events", tags=["events"])
HEARTBEAT_SECONDS = 15.0


def visible(principal: Principal, agency_code: str | None, message: dict[str, Any]) -> bool:
    if principal.role is not Role.AGENCY:
        return True
    data = message.get("data") or {}
    if message.get("event") != StreamEvent.DISPATCH_UPDATED.value:
        return False
    return data.get("agency_id") == principal.agency_id or (
        agency_code is not None and data.get("agency") == agency_code
    )


def sse(message: dict[str, Any]) -> str:
    return f"event: {message.get('event', 'message')}\ndata: {json.dumps(message.get('data'))}\n\n"


@router.get("/stream", response_class=StreamingResponse)
async def stream(
    request: Request, principal: CurrentPrincipal, session: Session
) -> StreamingResponse:
    agency_code = None
    if principal.role is Role.AGENCY and principal.agency_id is not None:
        agency_code = await session.scalar(
            select(Agency.code).where(Agency.id == principal.agency_id)
        )
    await session.close()  # hold no database connection for the life of the stream
    hub = request.app.state.stream_hub
    subscriber = hub.subscribe()

    async def body() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while True:
                if await request.is_disconnected():
                    return
                try:
                    message = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if visible(principal, agency_code, message):
                    yield sse(message)
        finally:
            hub.unsubscribe(subscriber)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
