"""AML positions: stored as received, matched to their callers' tickets (docs/aml.md).

A position goes to the newest ticket with the same caller number whose call arrived within the
window around the position's receipt (``AmlSettings.early_seconds`` / ``late_seconds``). A ticket's
coordinates are filled from the position only while nobody has set them; either way the position
is on the ticket's view and timeline (audit ``ticket.aml``) and the consoles hear
``ticket.updated``.

Phones send AML as they dial, so a position often comes before its ticket is written. Nothing is
added to the call path for that: a position without a ticket waits (``ticket_id`` NULL) and is
matched when its ticket's view is read (``match_for_ticket``) or by the API's periodic matcher
(``match_pending``), whichever comes first.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import StreamEvent, TicketState
from core.settings import AmlSettings
from core.timeutil import utcnow
from models import AmlPosition, Ticket
from services import audit, events
from services.aml.parse import AmlMessage
from services.dispatch import service as dispatch
from services.tickets import lifecycle

log = logging.getLogger(__name__)

ACTOR = "aml"
AUDIT_ACTION = "ticket.aml"
PENDING_BATCH = 500  # positions one pass of the periodic matcher looks at


async def receive(
    session: AsyncSession,
    message: AmlMessage,
    settings: AmlSettings,
    *,
    now: datetime | None = None,
) -> tuple[AmlPosition, Ticket | None]:
    """Store ``message`` as received ``now`` and match it to its ticket if that exists already.
    The caller commits."""
    position = AmlPosition(
        received_at=now or utcnow(),
        via=message.via.value,
        caller_number=message.number,
        latitude=message.latitude,
        longitude=message.longitude,
        radius_m=message.radius_m,
        positioned_at=message.positioned_at,
        confidence=message.confidence,
        method=message.method.value if message.method else None,
        raw=message.raw,
    )
    session.add(position)
    await session.flush()
    ticket = await _match(session, position, settings)
    log.info(
        "aml %s from %s by %s: ticket %s",
        position.id,
        position.caller_number,
        position.via,
        ticket.number if ticket else "none yet",
    )
    return position, ticket


async def match_for_ticket(session: AsyncSession, ticket: Ticket, settings: AmlSettings) -> int:
    """Match the waiting positions ``ticket``'s call may have (when its view is read).
    Returns how many were matched; the caller commits."""
    if not ticket.caller_number:
        return 0
    early = timedelta(seconds=settings.early_seconds)
    late = timedelta(seconds=settings.late_seconds)
    waiting = await session.scalars(
        _pending()
        .where(
            AmlPosition.caller_number == ticket.caller_number,
            AmlPosition.received_at.between(ticket.created_at - early, ticket.created_at + late),
        )
        .with_for_update(skip_locked=True)
    )
    return await _match_all(session, list(waiting), settings)


async def match_pending(
    session: AsyncSession, settings: AmlSettings, *, now: datetime | None = None
) -> int:
    """Match the positions still waiting that a ticket may yet come for (the periodic matcher).
    Returns how many were matched; the caller commits."""
    since = (now or utcnow()) - timedelta(seconds=settings.late_seconds)
    waiting = await session.scalars(
        _pending()
        .where(AmlPosition.received_at >= since)
        # the newest first: a position whose ticket never comes must not keep a newer one out
        .order_by(None)
        .order_by(AmlPosition.received_at.desc(), AmlPosition.id.desc())
        .limit(PENDING_BATCH)
        .with_for_update(skip_locked=True)
    )
    return await _match_all(session, list(waiting), settings)


def newest(positions: list[AmlPosition]) -> dict[str, Any] | None:
    """What the ticket view shows of its newest position."""
    if not positions:
        return None
    p = max(positions, key=lambda p: (p.received_at, p.id))
    return {
        "id": p.id,
        "via": p.via,
        "latitude": p.latitude,
        "longitude": p.longitude,
        "radius_m": p.radius_m,
        "method": p.method,
        "confidence": p.confidence,
        "positioned_at": p.positioned_at,
        "received_at": p.received_at,
        "count": len(positions),
    }


async def of_ticket(session: AsyncSession, ticket_id: int) -> dict[str, Any] | None:
    rows = await session.scalars(select(AmlPosition).where(AmlPosition.ticket_id == ticket_id))
    return newest(list(rows))


def _pending() -> Any:
    return (
        select(AmlPosition)
        .where(AmlPosition.ticket_id.is_(None))
        .order_by(AmlPosition.received_at, AmlPosition.id)
    )


async def _match_all(
    session: AsyncSession, positions: list[AmlPosition], settings: AmlSettings
) -> int:
    matched = 0
    for position in positions:
        if await _match(session, position, settings) is not None:
            matched += 1
    return matched


async def _match(
    session: AsyncSession, position: AmlPosition, settings: AmlSettings
) -> Ticket | None:
    """Give ``position`` to its ticket if there is one yet (the ticket row is locked: a call
    taker's save and this fill cannot cross)."""
    received = position.received_at
    ticket = await session.scalar(
        select(Ticket)
        .where(
            Ticket.caller_number == position.caller_number,
            Ticket.created_at >= received - timedelta(seconds=settings.late_seconds),
            Ticket.created_at <= received + timedelta(seconds=settings.early_seconds),
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(1)
        .with_for_update()
    )
    if ticket is None:
        return None
    position.ticket_id = ticket.id
    position.matched_at = utcnow()
    state = TicketState(ticket.state)
    # a person's coordinates are never replaced; a closed ticket does not change
    fill = (
        ticket.latitude is None and ticket.longitude is None and state not in lifecycle.FINAL_STATES
    )
    if fill:
        ticket.latitude = position.latitude
        ticket.longitude = position.longitude
    await audit.record(
        session,
        actor=ACTOR,
        action=AUDIT_ACTION,
        entity="ticket",
        entity_id=ticket.id,
        before={"latitude": None, "longitude": None} if fill else None,
        after={
            "aml_id": position.id,
            "via": position.via,
            "latitude": position.latitude,
            "longitude": position.longitude,
            "radius_m": position.radius_m,
            "method": position.method,
            "confidence": position.confidence,
            "positioned_at": position.positioned_at.isoformat() if position.positioned_at else None,
            "filled": fill,
        },
    )
    changed = ["aml", "latitude", "longitude"] if fill else ["aml"]
    await events.publish(
        session,
        StreamEvent.TICKET_UPDATED,
        {"ticket_id": ticket.id, "id": ticket.id, "number": ticket.number, "fields": changed},
    )
    if fill and state not in lifecycle.OPEN_STATES:
        # agencies already working the ticket learn of the coordinates, in this transaction
        await dispatch.notify_ticket_updated(session, ticket, ["latitude", "longitude"])
    await session.flush()
    await session.refresh(ticket)  # updated_at, set by the database
    return ticket
