"""The ticket lifecycle: which state may follow which, in one table, and the one function that
changes a ticket's state (audited and published)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidTransition
from core.names import StreamEvent, TicketState
from models import Ticket
from services import audit, events

S = TicketState

ALLOWED: dict[TicketState, frozenset[TicketState]] = {
    S.NEW: frozenset({S.IN_PROGRESS, S.DISPATCHED, S.CLOSED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.DISPATCHED, S.CLOSED, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.ACKNOWLEDGED, S.ON_SCENE, S.RESOLVED, S.CANCELLED}),
    S.ACKNOWLEDGED: frozenset({S.ON_SCENE, S.RESOLVED, S.CANCELLED}),
    S.ON_SCENE: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}

# States in which the call taker is still working the report (the form may change freely).
OPEN_STATES = frozenset({S.NEW, S.IN_PROGRESS})
FINAL_STATES = frozenset({S.CLOSED, S.CANCELLED})


def can_transition(current: TicketState, target: TicketState) -> bool:
    return target in ALLOWED[current]


def check(current: TicketState, target: TicketState) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(
            f"Status tiket tidak bisa berubah dari {current.value} ke {target.value} / "
            f"a ticket cannot go from {current.value} to {target.value}",
            {
                "from": current.value,
                "to": target.value,
                "allowed": sorted(s.value for s in ALLOWED[current]),
            },
        )


async def transition(
    session: AsyncSession, ticket: Ticket, target: TicketState, *, actor: str
) -> None:
    """Move ``ticket`` to ``target`` or raise ``InvalidTransition``; audited and published."""
    current = TicketState(ticket.state)
    check(current, target)
    ticket.state = target.value
    await audit.record(
        session,
        actor=actor,
        action="ticket.state",
        entity="ticket",
        entity_id=ticket.id,
        before={"state": current.value},
        after={"state": target.value},
    )
    await events.publish(
        session,
        StreamEvent.TICKET_UPDATED,
        {"ticket_id": ticket.id, "id": ticket.id, "number": ticket.number, "state": target.value},
    )
