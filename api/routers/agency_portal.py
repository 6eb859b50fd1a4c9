"""The agency side: an agency's users see and handle only their own agency's dispatches.

Another agency's dispatch answers 404, exactly as one that does not exist, so ids reveal nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import AgencyUser, Session
from api.routers.dispatch import dispatch_read
from core.names import DispatchState
from core.settings import Settings
from models import Agency, Dispatch, DispatchUpdate, Ticket
from services.dispatch import queries as dispatch_queries
from services.dispatch import service as dispatch_service
from services.dispatch.schemas import (
    AcknowledgeBody,
    AgencyDispatchPage,
    AgencyDispatchRead,
    CloseBody,
    StatusUpdate,
    TicketForAgency,
    UpdateRead,
)
from services.users.auth import Principal

router = APIRouter(prefix="/agency", tags=["agency portal"])
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _zone(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.timezone


def _ticket(t: Ticket) -> TicketForAgency:
    return TicketForAgency(
        id=t.id,
        number=t.number,
        state=t.state,
        category=t.category,
        priority=t.priority,
        location_text=t.location_text,
        kecamatan=t.kecamatan,
        desa=t.desa,
        latitude=t.latitude,
        longitude=t.longitude,
        victims=t.victims,
        victims_count=t.victims_count,
        access_route=t.access_route,
        description=t.description,
        reporter_name=t.reporter_name,
        callback_number=t.callback_number or t.caller_number,
        created_at=t.created_at,
    )


def _read(d: Dispatch, a: Agency, t: Ticket, updates: list[DispatchUpdate]) -> AgencyDispatchRead:
    return AgencyDispatchRead(
        **dispatch_read(d, a, t).model_dump(),
        ticket=_ticket(t),
        updates=[
            UpdateRead(
                state=u.state,
                note=u.note,
                officer_name=u.officer_name,
                officer_id=u.officer_id,
                latitude=u.latitude,
                longitude=u.longitude,
                at=u.at,
            )
            for u in updates
        ],
    )


async def _one(session: Session, principal: Principal, dispatch_id: int) -> AgencyDispatchRead:
    agency_id = dispatch_service.agency_of(principal)
    d, a, t = await dispatch_queries.one_for_agency(session, agency_id, dispatch_id)
    return _read(d, a, t, (await dispatch_queries.updates(session, [d.id]))[d.id])


@router.get("/dispatches", response_model=AgencyDispatchPage)
async def my_dispatches(
    session: Session,
    principal: AgencyUser,
    state: Annotated[list[DispatchState] | None, Query()] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AgencyDispatchPage:
    """This agency's dispatches, newest first; pass ``next_cursor`` as ``cursor`` for more."""
    agency_id = dispatch_service.agency_of(principal)
    rows, next_cursor = await dispatch_queries.for_agency(
        session, agency_id, states=[s.value for s in state or []], before_id=cursor, limit=limit
    )
    updates = await dispatch_queries.updates(session, [d.id for d, _, _ in rows])
    return AgencyDispatchPage(
        items=[_read(d, a, t, updates[d.id]) for d, a, t in rows], next_cursor=next_cursor
    )


@router.get("/dispatches/{dispatch_id}", response_model=AgencyDispatchRead)
async def my_dispatch(
    dispatch_id: Id, session: Session, principal: AgencyUser
) -> AgencyDispatchRead:
    return await _one(session, principal, dispatch_id)


@router.post("/dispatches/{dispatch_id}/acknowledge", response_model=AgencyDispatchRead)
async def acknowledge(
    dispatch_id: Id,
    request: Request,
    session: Session,
    principal: AgencyUser,
    body: AcknowledgeBody | None = None,
) -> AgencyDispatchRead:
    body = body or AcknowledgeBody()
    await dispatch_service.change(
        session,
        dispatch_id,
        DispatchState.ACKNOWLEDGED,
        actor=principal,
        zone=_zone(request),
        report=dispatch_service.FieldReport(
            note=body.note, officer_name=body.officer_name, officer_id=body.officer_id
        ),
    )
    await session.commit()
    return await _one(session, principal, dispatch_id)


@router.post("/dispatches/{dispatch_id}/updates", response_model=AgencyDispatchRead)
async def post_update(
    dispatch_id: Id,
    body: StatusUpdate,
    request: Request,
    session: Session,
    principal: AgencyUser,
) -> AgencyDispatchRead:
    """A field status: en_route, on_scene or resolved, with a note, the officer and position."""
    await dispatch_service.change(
        session,
        dispatch_id,
        DispatchState(body.state),
        actor=principal,
        zone=_zone(request),
        report=dispatch_service.FieldReport(
            note=body.note,
            officer_name=body.officer_name,
            officer_id=body.officer_id,
            latitude=body.latitude,
            longitude=body.longitude,
        ),
    )
    await session.commit()
    return await _one(session, principal, dispatch_id)


@router.post("/dispatches/{dispatch_id}/close", response_model=AgencyDispatchRead)
async def close(
    dispatch_id: Id, body: CloseBody, request: Request, session: Session, principal: AgencyUser
) -> AgencyDispatchRead:
    """Close this agency's part with its report."""
    await dispatch_service.change(
        session,
        dispatch_id,
        DispatchState.CLOSED,
        actor=principal,
        zone=_zone(request),
        report=dispatch_service.FieldReport(
            officer_name=body.officer_name, officer_id=body.officer_id
        ),
        closing_report=body.report,
    )
    await session.commit()
    return await _one(session, principal, dispatch_id)
