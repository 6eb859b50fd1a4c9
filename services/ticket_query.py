"""Finding tickets: filters and keyset pagination (newest first)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, literal_column, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.phone import normalise
from models import Agency, Dispatch, Ticket
from models.ticket import SEARCH_DOCUMENT_SQL

MAX_LIMIT = 200
# The same expression the GIN index ix_tickets_search is built on, so searches use it.
SEARCH_DOCUMENT: Any = literal_column(f"({SEARCH_DOCUMENT_SQL})")
SIMPLE: Any = literal_column("'simple'::regconfig")


@dataclass(slots=True)
class TicketFilter:
    states: Sequence[str] = ()
    classifications: Sequence[str] = ()  # "none" means not classified yet
    categories: Sequence[str] = ()
    agency: str | None = None  # agency code: tickets dispatched to it
    created_from: datetime | None = None
    created_to: datetime | None = None
    caller: str | None = None
    text: str | None = None
    assigned_to: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def encode_cursor(created_at: datetime, ticket_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{ticket_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        stamp, ticket_id = raw.rsplit("|", 1)
        created = datetime.fromisoformat(stamp)
        if created.tzinfo is None:
            raise ValueError("naive time")
        return created, int(ticket_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "Kursor halaman tidak valid / invalid page cursor",
            {"fields": [{"field": "cursor", "message": "not a cursor this API gave"}]},
        ) from exc


def _filtered(f: TicketFilter) -> Select[Any]:
    stmt = select(Ticket)
    if f.states:
        stmt = stmt.where(Ticket.state.in_(list(f.states)))
    if f.classifications:
        wanted = [c for c in f.classifications if c != "none"]
        conditions = [Ticket.classification.in_(wanted)] if wanted else []
        if "none" in f.classifications:
            conditions.append(Ticket.classification.is_(None))
        stmt = stmt.where(or_(*conditions))
    if f.categories:
        stmt = stmt.where(Ticket.category.in_(list(f.categories)))
    if f.agency:
        stmt = stmt.where(
            exists().where(
                and_(
                    Dispatch.ticket_id == Ticket.id,
                    Dispatch.agency_id == Agency.id,
                    Agency.code == f.agency,
                )
            )
        )
    if f.created_from:
        stmt = stmt.where(Ticket.created_at >= f.created_from)
    if f.created_to:
        stmt = stmt.where(Ticket.created_at < f.created_to)
    if f.caller:
        number = normalise(f.caller) or f.caller
        stmt = stmt.where(or_(Ticket.caller_number == number, Ticket.callback_number == number))
    if f.assigned_to:
        stmt = stmt.where(Ticket.assigned_to == f.assigned_to)
    if f.text:
        text = f.text.strip()
        by_number = text.upper().removeprefix("T")
        condition: Any = SEARCH_DOCUMENT.op("@@")(func.plainto_tsquery(SIMPLE, text))
        if by_number.isdigit() and len(by_number) < 12:
            condition = or_(condition, Ticket.id == int(by_number))
        stmt = stmt.where(condition)
    return stmt


async def list_tickets(
    session: AsyncSession, f: TicketFilter, *, cursor: str | None, limit: int
) -> tuple[list[Ticket], str | None]:
    limit = max(1, min(limit, MAX_LIMIT))
    stmt = _filtered(f)
    if cursor:
        created, ticket_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(Ticket.created_at, Ticket.id) < tuple_(created, ticket_id))
    stmt = stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return rows, next_cursor
