"""What call takers and supervisors do to a ticket: fill the form, classify, move it along."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidTransition, NotFound
from core.names import Classification, DispatchState, StreamEvent, TicketState
from core.phone import normalise
from models import Dispatch, Ticket
from services import audit, events
from services.dispatch import service as dispatch
from services.tickets import lifecycle

FORM_FIELDS = (
    "reporter_name",
    "callback_number",
    "location_text",
    "kecamatan",
    "desa",
    "latitude",
    "longitude",
    "victims",
    "victims_count",
    "access_route",
    "category",
    "description",
    "priority",
)

# A classification that ends the NTPD procedure at the centre: nothing to dispatch.
CLOSING_CLASSIFICATIONS = frozenset(
    {Classification.PRANK, Classification.GHOST, Classification.INFORMATION}
)


async def get_ticket(session: AsyncSession, ticket_id: int, *, lock: bool = False) -> Ticket:
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        stmt = stmt.with_for_update()
    ticket = await session.scalar(stmt)
    if ticket is None:
        raise NotFound("Tiket tidak ditemukan / ticket not found", {"ticket_id": ticket_id})
    return ticket


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


async def update_form(
    session: AsyncSession,
    ticket_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    if_unmodified_since: datetime | None = None,
) -> Ticket:
    ticket = await get_ticket(session, ticket_id, lock=True)
    if if_unmodified_since is not None and ticket.updated_at > if_unmodified_since:
        error = Conflict(
            "Tiket sudah diubah orang lain; muat ulang / the ticket changed meanwhile; reload",
            {"updated_at": ticket.updated_at.isoformat()},
        )
        error.error_id = "stale-ticket"
        raise error
    if TicketState(ticket.state) in lifecycle.FINAL_STATES:
        raise _closed(ticket)
    if changes.get("callback_number"):
        changes["callback_number"] = (
            normalise(changes["callback_number"]) or changes["callback_number"]
        )
    if changes.get("victims") is not None and _plain(changes["victims"]) != "count":
        changes["victims_count"] = None
    before = {k: _plain(getattr(ticket, k)) for k in changes if k in FORM_FIELDS}
    after = {k: _plain(v) for k, v in changes.items() if k in FORM_FIELDS}
    before, after = audit.changes(before, after)
    if not after:
        return ticket
    for key, value in after.items():
        setattr(ticket, key, value)
    if ticket.assigned_to is None:
        ticket.assigned_to = actor
    if TicketState(ticket.state) is TicketState.NEW:
        await lifecycle.transition(session, ticket, TicketState.IN_PROGRESS, actor=actor)
    await audit.record(
        session,
        actor=actor,
        action="ticket.update",
        entity="ticket",
        entity_id=ticket.id,
        before=before,
        after=after,
    )
    await events.publish(
        session,
        StreamEvent.TICKET_UPDATED,
        {"ticket_id": ticket.id, "id": ticket.id, "number": ticket.number, "fields": sorted(after)},
    )
    if TicketState(ticket.state) not in lifecycle.OPEN_STATES:
        # agencies already working the ticket get the change as a webhook, in this transaction
        await dispatch.notify_ticket_updated(session, ticket, sorted(after))
    await session.flush()
    await session.refresh(ticket)
    return ticket


async def classify(
    session: AsyncSession,
    ticket_id: int,
    classification: Classification,
    *,
    actor: str,
    note: str | None = None,
) -> Ticket:
    """Classify as the NTPD procedure has it. Prank, ghost and information close the ticket;
    a ticket already handed to agencies cannot become a prank or ghost call."""
    ticket = await get_ticket(session, ticket_id, lock=True)
    state = TicketState(ticket.state)
    if state in lifecycle.FINAL_STATES:
        raise _closed(ticket)
    if classification in CLOSING_CLASSIFICATIONS and state not in lifecycle.OPEN_STATES:
        error = InvalidTransition(
            "Tiket yang sudah diteruskan ke instansi tidak bisa diklasifikasi ulang sebagai "
            f"{classification.value} / a dispatched ticket cannot become {classification.value}",
            {"state": ticket.state, "classification": classification.value},
        )
        error.error_id = "classification-locked"
        raise error
    before = {"classification": ticket.classification, "classified_by": ticket.classified_by}
    ticket.classification = classification.value
    ticket.classified_by = actor
    if ticket.assigned_to is None:
        ticket.assigned_to = actor
    await audit.record(
        session,
        actor=actor,
        action="ticket.classify",
        entity="ticket",
        entity_id=ticket.id,
        before=before,
        after={"classification": classification.value, "classified_by": actor, "note": note},
    )
    if classification in CLOSING_CLASSIFICATIONS:
        await lifecycle.transition(session, ticket, TicketState.CLOSED, actor=actor)
    elif state is TicketState.NEW:
        await lifecycle.transition(session, ticket, TicketState.IN_PROGRESS, actor=actor)
    await events.publish(
        session,
        StreamEvent.TICKET_UPDATED,
        {
            "ticket_id": ticket.id,
            "id": ticket.id,
            "number": ticket.number,
            "classification": classification.value,
            "state": ticket.state,
        },
    )
    await session.flush()
    await session.refresh(ticket)
    return ticket


def _closed(ticket: Ticket) -> Conflict:
    error = Conflict(
        "Tiket sudah ditutup dan tidak bisa diubah / the ticket is closed and cannot change",
        {"state": ticket.state},
    )
    error.error_id = "ticket-closed"
    return error


# States that follow the ticket's dispatches (services.dispatch.service moves the ticket there); a
# person
# never sets them by hand.
DISPATCH_STATES = frozenset(
    {TicketState.DISPATCHED, TicketState.ACKNOWLEDGED, TicketState.ON_SCENE}
)
_OPEN_DISPATCH = (DispatchState.CLOSED.value, DispatchState.CANCELLED.value)


async def move(session: AsyncSession, ticket_id: int, target: TicketState, *, actor: str) -> Ticket:
    """A person's move of the ticket (the transition table decides first):

    - dispatched / acknowledged / on scene follow the dispatches, never set by hand;
    - closing needs a classification (the NTPD procedure classifies every call);
    - cancelling a ticket whose dispatches are still open is refused: cancel those first, so no
      agency keeps working a ticket the centre dropped.
    """
    ticket = await get_ticket(session, ticket_id, lock=True)
    current = TicketState(ticket.state)
    lifecycle.check(current, target)
    if target in DISPATCH_STATES:
        raise InvalidTransition(
            "Status ini mengikuti penugasan instansi / this state follows the agencies' dispatches",
            {"from": current.value, "to": target.value, "reason": "follows-dispatches"},
        )
    if target is TicketState.CLOSED and ticket.classification is None:
        error = Conflict(
            "Klasifikasikan panggilan sebelum menutup tiket / classify the call before closing",
            {"from": current.value, "to": target.value},
        )
        error.error_id = "classification-required"
        raise error
    if target is TicketState.CANCELLED:
        open_dispatches = await session.scalar(
            select(func.count())
            .select_from(Dispatch)
            .where(Dispatch.ticket_id == ticket.id, Dispatch.state.not_in(_OPEN_DISPATCH))
        )
        if open_dispatches:
            error = Conflict(
                "Batalkan dulu penugasan instansi yang masih berjalan / "
                "cancel the open dispatches first",
                {"open_dispatches": open_dispatches},
            )
            error.error_id = "open-dispatches"
            raise error
    await lifecycle.transition(session, ticket, target, actor=actor)
    await session.flush()
    await session.refresh(ticket)
    return ticket
