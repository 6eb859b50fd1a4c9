"""Reading dispatches: a ticket's for the centre, an agency's own for the agency portal, and
those no agency has acknowledged in time for the supervisor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.names import DispatchState, ticket_number
from models import Agency, Dispatch, DispatchUpdate, OutboxMessage, Ticket

Row = tuple[Dispatch, Agency, Ticket]


async def for_ticket(session: AsyncSession, ticket_id: int) -> list[Row]:
    if await session.get(Ticket, ticket_id) is None:
        raise NotFound("Tiket tidak ditemukan / ticket not found", {"ticket_id": ticket_id})
    rows = await session.execute(
        select(Dispatch, Agency, Ticket)
        .join(Agency, Agency.id == Dispatch.agency_id)
        .join(Ticket, Ticket.id == Dispatch.ticket_id)
        .where(Dispatch.ticket_id == ticket_id)
        .order_by(Dispatch.id)
    )
    return list(rows.all())


async def for_agency(
    session: AsyncSession, agency_id: int, *, states: list[str], before_id: int | None, limit: int
) -> tuple[list[Row], int | None]:
    """An agency's dispatches, newest first, keyset-paginated on the dispatch id."""
    query = (
        select(Dispatch, Agency, Ticket)
        .join(Agency, Agency.id == Dispatch.agency_id)
        .join(Ticket, Ticket.id == Dispatch.ticket_id)
        .where(Dispatch.agency_id == agency_id)
        .order_by(Dispatch.id.desc())
        .limit(limit + 1)
    )
    if states:
        query = query.where(Dispatch.state.in_(states))
    if before_id is not None:
        query = query.where(Dispatch.id < before_id)
    rows: list[Row] = [(d, a, t) for d, a, t in await session.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1][0].id if more and rows else None)


async def one_for_agency(session: AsyncSession, agency_id: int, dispatch_id: int) -> Row:
    """The agency's own dispatch; another agency's is 'not found', exactly like a missing one."""
    row = (
        await session.execute(
            select(Dispatch, Agency, Ticket)
            .join(Agency, Agency.id == Dispatch.agency_id)
            .join(Ticket, Ticket.id == Dispatch.ticket_id)
            .where(Dispatch.id == dispatch_id, Dispatch.agency_id == agency_id)
        )
    ).first()
    if row is None:
        raise NotFound(
            "Penugasan tidak ditemukan / dispatch not found", {"dispatch_id": dispatch_id}
        )
    return row


async def updates(
    session: AsyncSession, dispatch_ids: list[int]
) -> dict[int, list[DispatchUpdate]]:
    result: dict[int, list[DispatchUpdate]] = {i: [] for i in dispatch_ids}
    if not dispatch_ids:
        return result
    for u in await session.scalars(
        select(DispatchUpdate)
        .where(DispatchUpdate.dispatch_id.in_(dispatch_ids))
        .order_by(DispatchUpdate.id)
    ):
        result[u.dispatch_id].append(u)
    return result


@dataclass(frozen=True, slots=True)
class Overdue:
    """A dispatch still pending past the acknowledgement threshold."""

    dispatch_id: int
    created_at: datetime
    waiting_seconds: float
    ticket_id: int
    ticket_number: str
    category: str | None
    agency_id: int
    agency_code: str
    agency_name: str
    has_webhook: bool
    delivery_state: str | None  # its latest webhook message's state; None: no webhook sent


async def overdue(
    session: AsyncSession, *, older_than_seconds: float, limit: int
) -> tuple[list[Overdue], int]:
    """Dispatches still pending (not acknowledged, not cancelled) for longer than
    ``older_than_seconds``, the longest waiting first, and how many there are in all. Agencies
    without a webhook count too: they acknowledge in the agency view. One query."""
    latest_delivery = (
        select(OutboxMessage.state)
        .where(OutboxMessage.dispatch_id == Dispatch.id)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
        .correlate(Dispatch)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            Dispatch.id,
            Dispatch.created_at,
            func.extract("epoch", func.now() - Dispatch.created_at),
            Ticket.id,
            Ticket.category,
            Agency.id,
            Agency.code,
            Agency.name,
            Agency.webhook_url.is_not(None),
            latest_delivery,
            func.count().over(),
        )
        .join(Agency, Agency.id == Dispatch.agency_id)
        .join(Ticket, Ticket.id == Dispatch.ticket_id)
        .where(
            Dispatch.state == DispatchState.PENDING.value,
            Dispatch.created_at <= func.now() - timedelta(seconds=older_than_seconds),
        )
        .order_by(Dispatch.created_at, Dispatch.id)
        .limit(limit)
    )
    items, total = [], 0
    for r in rows.all():
        total = r[10]
        items.append(
            Overdue(
                dispatch_id=r[0],
                created_at=r[1],
                waiting_seconds=float(r[2]),
                ticket_id=r[3],
                ticket_number=ticket_number(r[3]),
                category=r[4],
                agency_id=r[5],
                agency_code=r[6],
                agency_name=r[7],
                has_webhook=bool(r[8]),
                delivery_state=r[9],
            )
        )
    return items, total
