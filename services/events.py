"""Live events between processes over PostgreSQL NOTIFY.

The gateway and the API are separate processes; whatever changes a ticket or a call publishes an
event in the same transaction, so consoles learn of it exactly when it is committed.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.names import StreamEvent
from core.rows import Rows, SessionRows

CHANNEL = "siaga112_events"
# NOTIFY payloads are limited to 8000 bytes: events carry ids and small facts, never whole tickets.
MAX_PAYLOAD = 7900
NOTIFY = "SELECT pg_notify(:channel, :payload)"


def encode(event: StreamEvent, data: dict[str, Any]) -> str:
    payload = json.dumps({"event": event.value, "data": data}, default=str, separators=(",", ":"))
    if len(payload.encode()) > MAX_PAYLOAD:
        payload = json.dumps({"event": event.value, "data": {"truncated": True}})
    return payload


async def publish(session: AsyncSession, event: StreamEvent, data: dict[str, Any]) -> None:
    """Queue ``event`` for delivery when ``session``'s transaction commits."""
    await publish_on(SessionRows(session), event, data)


async def publish_on(db: Rows, event: StreamEvent, data: dict[str, Any]) -> None:
    """``publish`` in the transaction ``db`` runs in (the gateway's own connections)."""
    await db.row(NOTIFY, {"channel": CHANNEL, "payload": encode(event, data)})
