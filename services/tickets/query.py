"""Finding tickets: filters and keyset pagination (newest first).

A page reads only the columns the list shows (``services.tickets.view.SUMMARY_FIELDS``) as plain
rows: no ORM objects, no wide text columns (description, access route) the list does not show."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    RowMapping,
    Select,
    and_,
    exists,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.phone import normalise
from models import Agency, Dispatch, Ticket
from models.ticket import WORDED_SQL
from services.tickets.view import SUMMARY_FIELDS

MAX_LIMIT = 200
SIMPLE: Any = literal_column("'simple'::regconfig")
# Written as the partial index ix_tickets_worded_created_id's predicate, so PostgreSQL may walk it.
WORDED: Any = literal_column(WORDED_SQL)
SUMMARY_COLUMNS = [getattr(Ticket, name) for name in SUMMARY_FIELDS]


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
    stmt = select(*SUMMARY_COLUMNS)
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
        words = func.plainto_tsquery(SIMPLE, f.text.strip())
        stmt = stmt.where(WORDED, Ticket.search_document.op("@@")(words))
    return stmt


def named_ticket(text: str | None) -> int | None:
    """The ticket a search text names by number (``T000123`` or ``123``), if it names one."""
    digits = (text or "").strip().upper().removeprefix("T")
    return int(digits) if digits.isdigit() and len(digits) < 12 else None


def page_query(f: TicketFilter, *, cursor: str | None, limit: int) -> Select[Any]:
    """Up to ``limit`` tickets matching ``f``, newest first, after ``cursor``.

    A search text that is a ticket number finds that ticket as well as the tickets with the
    words: two queries, each served by its own index, merged (one query with ``OR`` would have to
    walk the newest tickets checking both)."""
    after = decode_cursor(cursor) if cursor else None

    def newest(stmt: Select[Any]) -> Select[Any]:
        if after:
            stmt = stmt.where(tuple_(Ticket.created_at, Ticket.id) < tuple_(*after))
        return stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)

    number = named_ticket(f.text)
    if number is None:
        return newest(_filtered(f))
    numbered = newest(_filtered(replace(f, text=None)).where(Ticket.id == number))
    both = union(newest(_filtered(f)), numbered).subquery()
    return select(both).order_by(both.c.created_at.desc(), both.c.id.desc()).limit(limit)


async def list_tickets(
    session: AsyncSession, f: TicketFilter, *, cursor: str | None, limit: int
) -> tuple[list[RowMapping], str | None]:
    """One page of tickets (``SUMMARY_FIELDS`` of each), newest first, and the next page's
    cursor (None on the last page)."""
    limit = max(1, min(limit, MAX_LIMIT))
    stmt = page_query(f, cursor=cursor, limit=limit + 1)
    rows = list((await session.execute(stmt)).mappings())
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    next_cursor = encode_cursor(last["created_at"], last["id"]) if last else None
    return rows, next_cursor
