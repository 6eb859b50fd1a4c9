"""Dispatching tickets to agencies (call takers and supervisors), and what needs a supervisor's
action on the hand-off: the delivery log, the dead-letter list, dispatches overdue for
acknowledgement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import CentreStaff, Session, Supervisor
from core.names import DispatchState
from core.settings import Settings
from models import Agency, Dispatch, Ticket
from services.dispatch import delivery
from services.dispatch import queries as dispatch_queries
from services.dispatch import service as dispatch_service
from services.dispatch.schemas import (
    CancelBody,
    DeadLetterPage,
    DeadLetterRead,
    DispatchCreate,
    DispatchRead,
    MessageLog,
    MessageRead,
    OverdueDispatch,
    OverduePage,
    SuggestedAgency,
)

router = APIRouter(tags=["dispatch"])
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
MessageId = Annotated[str, Path(pattern=r"^msg_[0-9a-f]{32}$")]


def dispatch_read(
    d: Dispatch, agency: Agency, ticket: Ticket, delivery_state: str | None = None
) -> DispatchRead:
    return DispatchRead(
        id=d.id,
        ticket_id=ticket.id,
        ticket_number=ticket.number,
        agency_id=agency.id,
        agency_code=agency.code,
        agency_name=agency.name,
        state=d.state,
        note=d.note,
        report=d.report,
        dispatched_by=d.dispatched_by,
        created_at=d.created_at,
        acknowledged_at=d.acknowledged_at,
        en_route_at=d.en_route_at,
        on_scene_at=d.on_scene_at,
        resolved_at=d.resolved_at,
        closed_at=d.closed_at,
        cancelled_at=d.cancelled_at,
        delivery_state=delivery_state,
    )


def _zone(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.timezone


@router.get("/tickets/{ticket_id}/suggested-agencies", response_model=list[SuggestedAgency])
async def suggested_agencies(
    ticket_id: Id, session: Session, _: CentreStaff
) -> list[SuggestedAgency]:
    """Every active agency, those the ticket's category suggests first."""
    return [
        SuggestedAgency(
            id=s.agency.id,
            code=s.agency.code,
            name=s.agency.name,
            categories=list(s.agency.categories or []),
            suggested=s.suggested,
            dispatched=s.dispatched,
            has_webhook=bool(s.agency.webhook_url),
        )
        for s in await dispatch_service.suggestions(session, ticket_id)
    ]


@router.post("/tickets/{ticket_id}/dispatches", response_model=list[DispatchRead], status_code=201)
async def create_dispatches(
    ticket_id: Id, body: DispatchCreate, request: Request, session: Session, staff: CentreStaff
) -> list[DispatchRead]:
    """Dispatch the ticket to agencies: all of them or, on any error, none. Only emergencies
    (an unclassified ticket becomes one); an agency already dispatched gives 409."""
    created = await dispatch_service.dispatch(
        session,
        ticket_id,
        actor=staff,
        agency_codes=body.agency_codes,
        agency_ids=body.agency_ids,
        note=body.note,
        zone=_zone(request),
    )
    ticket = await session.get_one(Ticket, ticket_id)
    result = [dispatch_read(d, a, ticket, "pending" if a.webhook_url else None) for d, a in created]
    await session.commit()
    return result


@router.get("/tickets/{ticket_id}/dispatches", response_model=list[DispatchRead])
async def ticket_dispatches(ticket_id: Id, session: Session, _: CentreStaff) -> list[DispatchRead]:
    rows = await dispatch_queries.for_ticket(session, ticket_id)
    states = await delivery.delivery_states(session, [d.id for d, _, _ in rows])
    return [dispatch_read(d, a, t, states.get(d.id)) for d, a, t in rows]


@router.post("/dispatches/{dispatch_id}/cancel", response_model=DispatchRead)
async def cancel_dispatch(
    dispatch_id: Id, body: CancelBody, request: Request, session: Session, staff: CentreStaff
) -> DispatchRead:
    """Call a dispatch off (the agency receives ``dispatch.cancelled``)."""
    d, agency = await dispatch_service.change(
        session,
        dispatch_id,
        DispatchState.CANCELLED,
        actor=staff,
        report=dispatch_service.FieldReport(note=body.reason),
        zone=_zone(request),
        as_agency=False,
    )
    ticket = await session.get_one(Ticket, d.ticket_id)
    result = dispatch_read(d, agency, ticket)
    await session.commit()
    return result


@router.get("/dispatches/overdue", response_model=OverduePage)
async def overdue_dispatches(
    request: Request,
    session: Session,
    _: Supervisor,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> OverduePage:
    """Dispatches no agency has acknowledged within ``SIAGA_DISPATCH__ACK_OVERDUE_SECONDS``
    (webhook or agency view alike), the longest waiting first: phone the agency."""
    settings: Settings = request.app.state.settings
    threshold = settings.dispatch.ack_overdue_seconds
    items, total = await dispatch_queries.overdue(
        session, older_than_seconds=threshold, limit=limit
    )
    return OverduePage(
        threshold_seconds=threshold,
        total=total,
        items=[OverdueDispatch.model_validate(i) for i in items],
    )


@router.get("/dispatches/{dispatch_id}/deliveries", response_model=list[MessageLog])
async def dispatch_deliveries(dispatch_id: Id, session: Session, _: Supervisor) -> list[MessageLog]:
    """Every webhook message of a dispatch, with every delivery attempt."""
    return [MessageLog.model_validate(m) for m in await delivery.delivery_log(session, dispatch_id)]


@router.get("/deliveries/dead", response_model=DeadLetterPage)
async def dead_letters(
    session: Session,
    _: Supervisor,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadLetterPage:
    """Messages delivery gave up on, newest first; pass ``next_cursor`` as ``cursor``."""
    items, next_cursor = await delivery.dead_letters(session, before_id=cursor, limit=limit)
    return DeadLetterPage(
        items=[DeadLetterRead.model_validate(i) for i in items], next_cursor=next_cursor
    )


@router.post("/deliveries/{message_id}/redeliver", response_model=MessageRead)
async def redeliver(message_id: MessageId, session: Session, supervisor: Supervisor) -> MessageRead:
    """Put a dead message back in line for delivery (same webhook-id: receivers de-duplicate)."""
    message = await delivery.redeliver(session, message_id, actor=supervisor.username)
    agency = await session.get_one(Agency, message.agency_id)
    result = MessageRead.model_validate(delivery.message_view(message, agency.code))
    await session.commit()
    return result
