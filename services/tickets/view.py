"""A ticket's full view: its calls, a timeline of everything that happened, its dispatches with
their delivery state, and the caller's history."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

from sqlalchemy import RowMapping, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import ticket_number
from core.timeutil import utcnow
from models import (
    Agency,
    AuditEntry,
    Call,
    CallEvent,
    Dispatch,
    DispatchUpdate,
    OutboxMessage,
    Ticket,
)
from services.aml import service as aml

TICKET_FIELDS = (
    "id",
    "state",
    "classification",
    "classified_by",
    "category",
    "priority",
    "caller_number",
    "caller_number_raw",
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
    "description",
    "assigned_to",
    "triage_note",
    "created_at",
    "updated_at",
)
# What the ticket list shows of each ticket (services.tickets.schemas.TicketSummary, less
# ``number``).
SUMMARY_FIELDS = (
    "id",
    "state",
    "classification",
    "classified_by",
    "category",
    "priority",
    "caller_number",
    "reporter_name",
    "location_text",
    "latitude",
    "longitude",
    "assigned_to",
    "triage_note",
    "created_at",
    "updated_at",
)
CALL_FIELDS = (
    "id",
    "uniqueid",
    "direction",
    "caller_number",
    "caller_name",
    "dialled",
    "outcome",
    "arrived_at",
    "queued_at",
    "answered_at",
    "ended_at",
    "calltaker",
    "queue",
    "queue_priority",
    "queue_position",
    "wait_seconds",
    "talk_seconds",
    "hangup_cause",
    "hangup_cause_text",
    "recording_seconds",
    "triage",
    "source",
)


def ticket_fields(ticket: Ticket) -> dict[str, Any]:
    return {k: getattr(ticket, k) for k in TICKET_FIELDS} | {"number": ticket.number}


def summary_fields(row: RowMapping) -> dict[str, Any]:
    """A list row (``SUMMARY_FIELDS``) as the list shows it."""
    data = dict(row)
    data["number"] = ticket_number(data["id"])
    return data


def call_fields(call: Call) -> dict[str, Any]:
    data = {k: getattr(call, k) for k in CALL_FIELDS}
    data["has_recording"] = call.recording_path is not None
    data["recording_url"] = (
        f"/tickets/{call.ticket_id}/calls/{call.id}/recording" if call.recording_path else None
    )
    return data


async def caller_history(
    session: AsyncSession, number: str | None, exclude_ticket: int
) -> dict[str, Any] | None:
    """The triage area's summary when it is there; a plain 24-hour count otherwise."""
    if not number:
        return None
    try:
        module = importlib.import_module("services.triage.history")
        summary = module.summary
    except (ImportError, AttributeError):
        summary = None
    if summary is not None:
        result: dict[str, Any] = await summary(
            session, number, utcnow(), exclude_ticket=exclude_ticket
        )
        return result
    since = utcnow() - timedelta(hours=24)
    rows = await session.execute(
        select(Ticket.classification, func.count())
        .where(
            Ticket.caller_number == number, Ticket.created_at >= since, Ticket.id != exclude_ticket
        )
        .group_by(Ticket.classification)
    )
    counts = {str(c or "unclassified"): n for c, n in rows.all()}
    return {"window_hours": 24, "total": sum(counts.values()), "by_classification": counts}


async def full_view(session: AsyncSession, ticket: Ticket) -> dict[str, Any]:
    calls = list(
        await session.scalars(select(Call).where(Call.ticket_id == ticket.id).order_by(Call.id))
    )
    uniqueids = [c.uniqueid for c in calls]
    call_events = (
        list(
            await session.scalars(
                select(CallEvent).where(CallEvent.uniqueid.in_(uniqueids)).order_by(CallEvent.at)
            )
        )
        if uniqueids
        else []
    )
    audits = list(
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == "ticket", AuditEntry.entity_id == str(ticket.id))
            .order_by(AuditEntry.id)
        )
    )
    dispatch_rows = (
        await session.execute(
            select(Dispatch, Agency)
            .join(Agency, Agency.id == Dispatch.agency_id)
            .where(Dispatch.ticket_id == ticket.id)
            .order_by(Dispatch.id)
        )
    ).all()
    dispatch_ids = [d.id for d, _ in dispatch_rows]
    updates = (
        list(
            await session.scalars(
                select(DispatchUpdate)
                .where(DispatchUpdate.dispatch_id.in_(dispatch_ids))
                .order_by(DispatchUpdate.at)
            )
        )
        if dispatch_ids
        else []
    )
    deliveries: dict[int, OutboxMessage] = {}
    if dispatch_ids:
        for message in await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dispatch_id.in_(dispatch_ids))
            .order_by(OutboxMessage.id)
        ):
            if message.dispatch_id is not None:
                deliveries[message.dispatch_id] = message  # the newest message per dispatch

    agency_of = {d.id: a for d, a in dispatch_rows}
    timeline: list[dict[str, Any]] = [
        {"at": e.at, "kind": f"call.{e.kind}", "actor": "asterisk", "data": e.data or {}}
        for e in call_events
    ]
    timeline += [
        {
            "at": a.at,
            "kind": a.action,
            "actor": a.actor,
            "data": {"before": a.before, "after": a.after},
        }
        for a in audits
    ]
    timeline += [
        {
            "at": u.at,
            "kind": f"dispatch.{u.state}",
            "actor": agency_of[u.dispatch_id].code,
            "data": {
                "note": u.note,
                "officer_name": u.officer_name,
                "officer_id": u.officer_id,
                "latitude": u.latitude,
                "longitude": u.longitude,
            },
        }
        for u in updates
    ]
    timeline.sort(key=lambda item: item["at"])

    view = ticket_fields(ticket)
    view["calls"] = [call_fields(c) for c in calls]
    view["timeline"] = timeline
    view["dispatches"] = [
        {
            "id": d.id,
            "agency_id": a.id,
            "agency_code": a.code,
            "agency_name": a.name,
            "state": d.state,
            "dispatched_by": d.dispatched_by,
            "created_at": d.created_at,
            "acknowledged_at": d.acknowledged_at,
            "on_scene_at": d.on_scene_at,
            "resolved_at": d.resolved_at,
            "closed_at": d.closed_at,
            "report": d.report,
            "delivery_state": deliveries[d.id].state if d.id in deliveries else None,
            "delivery_attempts": deliveries[d.id].attempts if d.id in deliveries else 0,
        }
        for d, a in dispatch_rows
    ]
    view["caller_history"] = await caller_history(session, ticket.caller_number, ticket.id)
    view["aml"] = await aml.of_ticket(session, ticket.id)  # the phone's own newest position
    return view
