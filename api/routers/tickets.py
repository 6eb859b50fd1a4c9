"""Tickets for call takers and supervisors: find, read, fill, classify, move along, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from api.deps import CentreStaff, EntityId, Session, Supervisor
from core.settings import Settings
from models import AuditEntry
from services.aml import service as aml
from services.tickets import query as ticket_query
from services.tickets import service as tickets
from services.tickets import view as ticket_view
from services.tickets.schemas import ClassificationIn, TicketForm, TicketPage, TransitionIn

router = APIRouter(prefix="/tickets", tags=["tickets"])


@router.get("", response_model=TicketPage)
async def list_tickets(
    _: CentreStaff,
    session: Session,
    state: Annotated[list[str] | None, Query(max_length=20)] = None,
    classification: Annotated[list[str] | None, Query(max_length=20)] = None,
    category: Annotated[list[str] | None, Query(max_length=20)] = None,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    caller: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    assigned_to: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=ticket_query.MAX_LIMIT)] = 50,
) -> dict[str, Any]:
    f = ticket_query.TicketFilter(
        states=state or (),
        classifications=classification or (),
        categories=category or (),
        agency=agency,
        created_from=created_from,
        created_to=created_to,
        caller=caller,
        text=q,
        assigned_to=assigned_to,
    )
    rows, next_cursor = await ticket_query.list_tickets(session, f, cursor=cursor, limit=limit)
    return {"items": [ticket_view.summary_fields(r) for r in rows], "next_cursor": next_cursor}


@router.get("/{ticket_id}")
async def get_ticket(
    ticket_id: EntityId, _: CentreStaff, session: Session, request: Request
) -> dict[str, Any]:
    ticket = await tickets.get_ticket(session, ticket_id)
    settings: Settings = request.app.state.settings
    # AML positions that came before the ticket was written join it the moment it is read
    if settings.aml.enabled and await aml.match_for_ticket(session, ticket, settings.aml):
        await session.commit()
    return await ticket_view.full_view(session, ticket)


@router.patch("/{ticket_id}")
async def update_ticket(
    ticket_id: EntityId, body: TicketForm, principal: CentreStaff, session: Session
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"if_unmodified_since"})
    ticket = await tickets.update_form(
        session,
        ticket_id,
        changes,
        actor=principal.username,
        if_unmodified_since=body.if_unmodified_since,
    )
    await session.commit()
    return ticket_view.ticket_fields(ticket)


@router.post("/{ticket_id}/classification")
async def classify(
    ticket_id: EntityId, body: ClassificationIn, principal: CentreStaff, session: Session
) -> dict[str, Any]:
    ticket = await tickets.classify(
        session, ticket_id, body.classification, actor=principal.username, note=body.note
    )
    await session.commit()
    return ticket_view.ticket_fields(ticket)


@router.post("/{ticket_id}/transition")
async def transition(
    ticket_id: EntityId, body: TransitionIn, principal: CentreStaff, session: Session
) -> dict[str, Any]:
    ticket = await tickets.move(session, ticket_id, body.state, actor=principal.username)
    await session.commit()
    return ticket_view.ticket_fields(ticket)


@router.get("/{ticket_id}/audit")
async def ticket_audit(
    ticket_id: EntityId, _: Supervisor, session: Session
) -> list[dict[str, Any]]:
    await tickets.get_ticket(session, ticket_id)
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "ticket", AuditEntry.entity_id == str(ticket_id))
        .order_by(AuditEntry.id)
    )
    return [_audit(a) for a in rows]


def _audit(a: AuditEntry) -> dict[str, Any]:
    return {
        "id": a.id,
        "at": a.at,
        "actor": a.actor,
        "action": a.action,
        "entity": a.entity,
        "entity_id": a.entity_id,
        "before": a.before,
        "after": a.after,
    }


audit_router = APIRouter(prefix="/audit", tags=["audit"])


@audit_router.get("")
async def audit_log(
    _: Supervisor,
    session: Session,
    entity: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    rows = [_audit(a) for a in await session.scalars(stmt)]
    return {"items": rows, "next_before_id": rows[-1]["id"] if len(rows) == limit else None}
