"""Dispatching tickets to agencies, and each agency's handling of its dispatch.

Every change writes, in the caller's one transaction: the dispatch rows, the ticket's state (it
follows its dispatches), audit entries, a ``dispatch.updated`` stream event and the outbox messages
the agencies' endpoints receive (the outbox pattern: a message exists if and only if the change was
committed).

Only real emergencies are dispatched: a ticket classified as information, prank or ghost is
refused; an unclassified ticket is classified as an emergency by the act of dispatching it
(recorded in the audit log), since a call taker sending help has judged it real.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.categories import suggested_agencies
from core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from core.names import Classification, DispatchState, StreamEvent, TicketState, WebhookEvent
from core.timeutil import utcnow
from models import Agency, Dispatch, DispatchUpdate, Ticket
from services import audit, events
from services.dispatch import outbox
from services.dispatch import rules as dispatch_rules
from services.tickets import lifecycle
from services.users.auth import Principal

log = logging.getLogger(__name__)

_STAMP = {
    DispatchState.ACKNOWLEDGED: "acknowledged_at",
    DispatchState.EN_ROUTE: "en_route_at",
    DispatchState.ON_SCENE: "on_scene_at",
    DispatchState.RESOLVED: "resolved_at",
    DispatchState.CLOSED: "closed_at",
    DispatchState.CANCELLED: "cancelled_at",
}


class NotEmergency(Conflict):
    error_id = "ticket-not-emergency"


class AlreadyDispatched(Conflict):
    error_id = "already-dispatched"


@dataclass(frozen=True, slots=True)
class Suggestion:
    agency: Agency
    suggested: bool
    dispatched: bool


@dataclass(frozen=True, slots=True)
class FieldReport:
    note: str | None = None
    officer_name: str | None = None
    officer_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None


async def _ticket(session: AsyncSession, ticket_id: int, *, lock: bool = False) -> Ticket:
    query = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        query = query.with_for_update()
    ticket = await session.scalar(query)
    if ticket is None:
        raise NotFound("Tiket tidak ditemukan / ticket not found", {"ticket_id": ticket_id})
    return ticket


async def suggestions(session: AsyncSession, ticket_id: int) -> list[Suggestion]:
    """Active agencies, the ones the ticket's category suggests first."""
    ticket = await _ticket(session, ticket_id)
    by_category = set(suggested_agencies(ticket.category))
    dispatched = set(
        await session.scalars(select(Dispatch.agency_id).where(Dispatch.ticket_id == ticket.id))
    )
    agencies = await session.scalars(select(Agency).where(Agency.active).order_by(Agency.code))
    result = [
        Suggestion(
            a,
            a.code in by_category or (ticket.category or "") in (a.categories or []),
            a.id in dispatched,
        )
        for a in agencies
    ]
    result.sort(key=lambda s: (not s.suggested, s.agency.code))
    return result


def dispatch_event(
    ticket: Ticket,
    dispatch: Dispatch,
    agency: Agency,
    lat: float | None = None,
    lon: float | None = None,
) -> dict[str, Any]:
    return {
        "ticket_id": ticket.id,
        "dispatch_id": dispatch.id,
        "agency": agency.code,
        "state": dispatch.state,
        "lat": lat,
        "lon": lon,
    }


async def _follow(session: AsyncSession, ticket: Ticket, actor: str) -> None:
    """Move the ticket forward to the state its dispatches imply."""
    states = await session.scalars(select(Dispatch.state).where(Dispatch.ticket_id == ticket.id))
    implied = dispatch_rules.implied_ticket_state(list(states))
    if implied is None or not dispatch_rules.ticket_should_move(ticket.state, implied):
        return
    await move_ticket(session, ticket, implied, actor)


async def move_ticket(
    session: AsyncSession, ticket: Ticket, state: TicketState, actor: str
) -> None:
    """Change the ticket's state through the tickets lifecycle (audited, published)."""
    await lifecycle.transition(session, ticket, state, actor=actor)


async def dispatch(
    session: AsyncSession,
    ticket_id: int,
    *,
    actor: Principal,
    agency_codes: Sequence[str] = (),
    agency_ids: Sequence[int] = (),
    note: str | None,
    zone: str,
) -> list[tuple[Dispatch, Agency]]:
    """Dispatch a ticket to agencies, all or nothing."""
    if not agency_codes and not agency_ids:
        raise ValidationFailed(
            "Pilih minimal satu instansi / choose at least one agency",
            {"fields": [{"field": "agency_codes", "message": "at least one agency"}]},
        )
    ticket = await _ticket(session, ticket_id, lock=True)  # serialises dispatches of one ticket
    if ticket.classification not in (None, Classification.EMERGENCY.value):
        raise NotEmergency(
            "Hanya laporan darurat yang bisa diteruskan / only emergencies can be dispatched",
            {"classification": ticket.classification},
        )
    if TicketState(ticket.state) not in dispatch_rules.DISPATCHABLE_TICKET_STATES:
        raise InvalidTransition(
            f"Tiket berstatus {ticket.state} tidak bisa diteruskan / "
            f"a {ticket.state} ticket cannot be dispatched",
            {"state": ticket.state},
        )
    agencies = list(
        await session.scalars(
            select(Agency).where(
                (Agency.code.in_(list(agency_codes))) | (Agency.id.in_(list(agency_ids)))
            )
        )
    )
    known = {a.code for a in agencies} | {a.id for a in agencies}
    unknown = [c for c in [*agency_codes, *agency_ids] if c not in known]
    if unknown:
        raise ValidationFailed(
            "Instansi tidak dikenal / unknown agency",
            {"fields": [{"field": "agency_codes", "message": f"unknown: {unknown}"}]},
        )
    inactive = [a.code for a in agencies if not a.active]
    if inactive:
        raise ValidationFailed(
            "Instansi tidak aktif / agency inactive",
            {"fields": [{"field": "agency_codes", "message": f"inactive: {inactive}"}]},
        )
    existing = set(
        await session.scalars(
            select(Agency.code)
            .join(Dispatch, Dispatch.agency_id == Agency.id)
            .where(Dispatch.ticket_id == ticket.id, Agency.id.in_([a.id for a in agencies]))
        )
    )
    if existing:
        raise AlreadyDispatched(
            "Tiket sudah diteruskan ke instansi ini / already dispatched to: "
            + ", ".join(sorted(existing)),
            {"agency_codes": sorted(existing)},
        )
    if ticket.classification is None:
        ticket.classification = Classification.EMERGENCY.value
        ticket.classified_by = actor.username
        await audit.record(
            session,
            actor=actor.username,
            action="ticket.classified",
            entity="ticket",
            entity_id=ticket.id,
            before={"classification": None},
            after={"classification": Classification.EMERGENCY.value, "reason": "dispatched"},
        )
    created: list[tuple[Dispatch, Agency]] = []
    for agency in sorted(agencies, key=lambda a: a.code):
        d = Dispatch(
            ticket_id=ticket.id,
            agency_id=agency.id,
            state=DispatchState.PENDING.value,
            dispatched_by=actor.username,
            note=note,
        )
        session.add(d)
        created.append((d, agency))
    await session.flush()
    await _follow(session, ticket, actor.username)
    for d, agency in created:
        await audit.record(
            session,
            actor=actor.username,
            action="dispatch.created",
            entity="dispatch",
            entity_id=d.id,
            after={"ticket_id": ticket.id, "agency": agency.code, "note": note},
        )
        outbox.add(session, WebhookEvent.DISPATCH_CREATED, ticket, d, agency, zone)
        await events.publish(
            session, StreamEvent.DISPATCH_UPDATED, dispatch_event(ticket, d, agency)
        )
        log.info("ticket %s dispatched to %s by %s", ticket.number, agency.code, actor.username)
    await session.flush()
    return created


async def _dispatch(session: AsyncSession, dispatch_id: int, agency_id: int | None) -> Dispatch:
    """A dispatch, locked; for an agency only its own (another's is 'not found', like none)."""
    query = select(Dispatch).where(Dispatch.id == dispatch_id).with_for_update()
    if agency_id is not None:
        query = query.where(Dispatch.agency_id == agency_id)
    found = await session.scalar(query)
    if found is None:
        raise NotFound(
            "Penugasan tidak ditemukan / dispatch not found", {"dispatch_id": dispatch_id}
        )
    return found


def agency_of(principal: Principal) -> int:
    if principal.agency_id is None:
        raise Forbidden("Akun ini bukan akun instansi / not an agency account")
    return principal.agency_id


async def change(
    session: AsyncSession,
    dispatch_id: int,
    new_state: DispatchState,
    *,
    actor: Principal,
    report: FieldReport,
    zone: str,
    closing_report: str | None = None,
    as_agency: bool = True,
) -> tuple[Dispatch, Agency]:
    """Move a dispatch (an agency's own, or any for the centre) along the transition table."""
    d = await _dispatch(session, dispatch_id, agency_of(actor) if as_agency else None)
    ticket = await _ticket(session, d.ticket_id, lock=True)
    agency = await session.get_one(Agency, d.agency_id)
    before = d.state
    dispatch_rules.check(before, new_state)
    now = utcnow()
    d.state = new_state.value
    setattr(d, _STAMP[new_state], now)
    if closing_report is not None:
        d.report = closing_report
    session.add(
        DispatchUpdate(
            dispatch_id=d.id,
            state=new_state.value,
            note=report.note,
            officer_name=report.officer_name,
            officer_id=report.officer_id,
            latitude=report.latitude,
            longitude=report.longitude,
            at=now,
        )
    )
    await session.flush()
    await audit.record(
        session,
        actor=actor.username,
        action=f"dispatch.{new_state.value}",
        entity="dispatch",
        entity_id=d.id,
        before={"state": before},
        after={
            "state": new_state.value,
            "note": report.note,
            "officer_name": report.officer_name,
            "officer_id": report.officer_id,
            "latitude": report.latitude,
            "longitude": report.longitude,
            "report": closing_report,
        },
    )
    await _follow(session, ticket, actor.username)
    if new_state is DispatchState.CANCELLED:
        outbox.add(
            session,
            WebhookEvent.DISPATCH_CANCELLED,
            ticket,
            d,
            agency,
            zone,
            {"reason": report.note},
        )
    await events.publish(
        session,
        StreamEvent.DISPATCH_UPDATED,
        dispatch_event(ticket, d, agency, report.latitude, report.longitude),
    )
    log.info(
        "dispatch %s (ticket %s, %s): %s -> %s by %s",
        d.id,
        ticket.number,
        agency.code,
        before,
        new_state.value,
        actor.username,
    )
    return d, agency


async def notify_ticket_updated(
    session: AsyncSession,
    ticket: Ticket,
    changed: Sequence[str] = (),
    zone: str = "Asia/Jakarta",
) -> int:
    """Queue ``ticket.updated`` to every agency with an open dispatch of ``ticket`` (for the
    tickets area to call when a dispatched ticket's details change). Returns messages queued."""
    rows = await session.execute(
        select(Dispatch, Agency)
        .join(Agency, Agency.id == Dispatch.agency_id)
        .where(
            Dispatch.ticket_id == ticket.id,
            Dispatch.state.in_([s.value for s in dispatch_rules.OPEN_STATES]),
        )
    )
    count = 0
    for d, agency in rows.all():
        if outbox.add(
            session,
            WebhookEvent.TICKET_UPDATED,
            ticket,
            d,
            agency,
            zone,
            {"changed": list(changed)},
        ):
            count += 1
    return count
