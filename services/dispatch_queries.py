"""Reading dispatches: a ticket's for the centre, an agency's own for the agency portal."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from models import Agency, Dispatch, DispatchUpdate, Ticket

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
