"""What the supervisor's wallboard and map show, read from the calls, tickets and dispatch tables.

Who is paused is Asterisk's to know: the gateway follows it over AMI and reports it in its
heartbeat, read here. Everything else is what the calls, tickets and dispatch tables hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import CallDirection, Classification, DispatchState, Role, TicketState
from core.timeutil import utcnow
from models import Agency, Call, Dispatch, DispatchUpdate, Ticket, User
from services import health

ANSWER_TARGET_SECONDS = 10
OPEN_TICKET_STATES = tuple(
    s.value for s in TicketState if s not in (TicketState.CLOSED, TicketState.CANCELLED)
)
OPEN_DISPATCH_STATES = tuple(
    s.value for s in DispatchState if s not in (DispatchState.CLOSED, DispatchState.CANCELLED)
)
NOT_ON_MAP = (Classification.PRANK.value, Classification.GHOST.value)
MAP_LIMIT = 500


@dataclass(slots=True)
class Summary:
    waiting: int
    longest_wait_seconds: float | None
    calltakers_total: int
    calltakers_on_call: int
    calltakers_paused: int
    offered_today: int
    answered_within_target_today: int
    open_tickets: int
    on_call_accounts: list[str] = field(default_factory=list)

    @property
    def free(self) -> int:
        return max(0, self.calltakers_total - self.calltakers_on_call - self.calltakers_paused)

    def as_dict(self) -> dict[str, Any]:
        share = (
            self.answered_within_target_today / self.offered_today if self.offered_today else None
        )
        return {
            "waiting": self.waiting,
            "longest_wait_seconds": self.longest_wait_seconds,
            "calltakers": {
                "total": self.calltakers_total,
                "free": self.free,
                "on_call": self.calltakers_on_call,
                "paused": self.calltakers_paused,
                "on_call_accounts": self.on_call_accounts,
            },
            "answer_target_seconds": ANSWER_TARGET_SECONDS,
            "offered_today": self.offered_today,
            "answered_within_target_today": self.answered_within_target_today,
            "answered_within_target_share": share,
            "open_tickets": self.open_tickets,
            "source": "calls",
        }


def start_of_day(now: datetime, zone: str) -> datetime:
    """Midnight of ``now``'s day in the centre's zone, as an aware datetime."""
    local_now = now.astimezone(ZoneInfo(zone))
    return datetime.combine(local_now.date(), time(0), tzinfo=ZoneInfo(zone))


async def summary(session: AsyncSession, configured_accounts: list[str], zone: str) -> Summary:
    now = utcnow()
    waiting_filter = and_(
        Call.queued_at.is_not(None), Call.answered_at.is_(None), Call.ended_at.is_(None)
    )
    waiting, oldest = (
        await session.execute(select(func.count(), func.min(Call.queued_at)).where(waiting_filter))
    ).one()
    on_call = (
        (
            await session.execute(
                select(Call.calltaker)
                .where(Call.answered_at.is_not(None), Call.ended_at.is_(None))
                .where(Call.calltaker.is_not(None))
                .distinct()
            )
        )
        .scalars()
        .all()
    )
    user_accounts = (
        (
            await session.execute(
                select(User.sip_account).where(
                    User.role == Role.CALLTAKER.value,
                    User.active.is_(True),
                    User.sip_account.is_not(None),
                )
            )
        )
        .scalars()
        .all()
    )
    accounts = {a for a in configured_accounts} | {a for a in user_accounts if a}
    since = start_of_day(now, zone)
    offered_filter = and_(
        Call.direction == CallDirection.INBOUND.value,
        Call.queued_at >= since,
        # still waiting is not yet an outcome
        ~waiting_filter,
    )
    wait = func.extract("epoch", Call.answered_at - Call.queued_at)
    offered, within = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(Call.answered_at.is_not(None), wait <= ANSWER_TARGET_SECONDS),
            ).where(offered_filter)
        )
    ).one()
    open_tickets = (
        await session.execute(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.state.in_(OPEN_TICKET_STATES))
            .where((Ticket.classification.is_(None)) | (Ticket.classification.not_in(NOT_ON_MAP)))
        )
    ).scalar_one()
    return Summary(
        waiting=int(waiting),
        longest_wait_seconds=(now - oldest).total_seconds() if oldest else None,
        calltakers_total=len(accounts | set(on_call)),
        calltakers_on_call=len([a for a in on_call if a]),
        calltakers_paused=await health.calltakers_paused(session),
        offered_today=int(offered),
        answered_within_target_today=int(within),
        open_tickets=int(open_tickets),
        on_call_accounts=sorted(a for a in on_call if a),
    )


async def map_items(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    """Open tickets and the last reported position and status of each open dispatch."""
    tickets = (
        (
            await session.execute(
                select(Ticket)
                .where(Ticket.state.in_(OPEN_TICKET_STATES))
                .where(
                    (Ticket.classification.is_(None)) | (Ticket.classification.not_in(NOT_ON_MAP))
                )
                .order_by(Ticket.priority.desc(), Ticket.id.desc())
                .limit(MAP_LIMIT)
            )
        )
        .scalars()
        .all()
    )
    last_update = (
        select(
            DispatchUpdate.dispatch_id,
            func.max(DispatchUpdate.id).label("update_id"),
        )
        .where(DispatchUpdate.latitude.is_not(None), DispatchUpdate.longitude.is_not(None))
        .group_by(DispatchUpdate.dispatch_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(Dispatch, Agency, DispatchUpdate)
            .join(Agency, Agency.id == Dispatch.agency_id)
            .join(last_update, last_update.c.dispatch_id == Dispatch.id)
            .join(DispatchUpdate, DispatchUpdate.id == last_update.c.update_id)
            .where(Dispatch.state.in_(OPEN_DISPATCH_STATES))
            .order_by(Dispatch.id.desc())
            .limit(MAP_LIMIT)
        )
    ).all()
    return {
        "tickets": [
            {
                "id": t.id,
                "number": t.number,
                "state": t.state,
                "classification": t.classification,
                "category": t.category,
                "priority": t.priority,
                "latitude": t.latitude,
                "longitude": t.longitude,
                "location_text": t.location_text,
                "kecamatan": t.kecamatan,
                "desa": t.desa,
                "assigned_to": t.assigned_to,
                "created_at": t.created_at,
            }
            for t in tickets
        ],
        "units": [
            {
                "dispatch_id": d.id,
                "ticket_id": d.ticket_id,
                "agency_id": a.id,
                "agency_code": a.code,
                "agency_name": a.name,
                "state": d.state,
                "officer_name": u.officer_name,
                "officer_id": u.officer_id,
                "latitude": u.latitude,
                "longitude": u.longitude,
                "at": u.at,
            }
            for d, a, u in rows
        ],
    }
