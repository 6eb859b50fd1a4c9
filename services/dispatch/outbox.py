"""Webhook messages for agencies, written to the outbox in the caller's transaction.

A message carries only what the receiving agency needs about one ticket and its own dispatch, never
another agency's data. Times are UTC ISO 8601 with the centre's local time beside them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.categories import CATEGORY_BY_CODE
from core.names import DeliveryState, WebhookEvent
from core.timeutil import local, utcnow
from models import Agency, Dispatch, OutboxMessage, Ticket


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def times(dt: datetime | None, zone: str) -> dict[str, str] | None:
    if dt is None:
        return None
    return {
        "utc": dt.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "local": local(dt, zone).isoformat(),
        "zone": zone,
    }


def ticket_view(ticket: Ticket, zone: str) -> dict[str, Any]:
    category = CATEGORY_BY_CODE.get(ticket.category or "")
    return {
        "id": ticket.id,
        "number": ticket.number,
        "state": ticket.state,
        "category": ticket.category,
        "category_name": category.name_id if category else None,
        "category_name_en": category.name_en if category else None,
        "priority": ticket.priority,
        "location": {
            "text": ticket.location_text,
            "kecamatan": ticket.kecamatan,
            "desa": ticket.desa,
            "latitude": ticket.latitude,
            "longitude": ticket.longitude,
        },
        "victims": {"kind": ticket.victims, "count": ticket.victims_count},
        "access_route": ticket.access_route,
        "description": ticket.description,
        "reporter": {
            "name": ticket.reporter_name,
            "callback_number": ticket.callback_number or ticket.caller_number,
        },
        "created_at": times(ticket.created_at, zone),
    }


def dispatch_view(dispatch: Dispatch, agency: Agency, zone: str) -> dict[str, Any]:
    return {
        "id": dispatch.id,
        "agency": agency.code,
        "state": dispatch.state,
        "note": dispatch.note,
        "dispatched_by": dispatch.dispatched_by,
        "dispatched_at": times(dispatch.created_at, zone),
        "cancelled_at": times(dispatch.cancelled_at, zone),
    }


def payload(
    event: WebhookEvent,
    ticket: Ticket,
    dispatch: Dispatch,
    agency: Agency,
    zone: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Standard Webhooks envelope: ``type``, ``timestamp`` and ``data``."""
    data: dict[str, Any] = {
        "ticket": ticket_view(ticket, zone),
        "dispatch": dispatch_view(dispatch, agency, zone),
    }
    if extra:
        data.update(extra)
    return {
        "type": event.value,
        "timestamp": utcnow().isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def add(
    session: AsyncSession,
    event: WebhookEvent,
    ticket: Ticket,
    dispatch: Dispatch,
    agency: Agency,
    zone: str,
    extra: dict[str, Any] | None = None,
) -> OutboxMessage | None:
    """Queue a message to ``agency`` (nothing if it has no enabled webhook endpoint: it then
    follows its dispatches in the agency portal)."""
    if not agency.webhook_url or agency.webhook_disabled_at is not None or not agency.active:
        return None
    now = utcnow()
    message = OutboxMessage(
        message_id=new_message_id(),
        agency_id=agency.id,
        dispatch_id=dispatch.id,
        event_type=event.value,
        payload=payload(event, ticket, dispatch, agency, zone, extra),
        state=DeliveryState.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    return message
