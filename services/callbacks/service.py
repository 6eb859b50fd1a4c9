"""Callbacks: a call taker calls a citizen back, and the call joins the citizen's ticket.

The API writes the request as a ``calls`` row of direction "callback" on the ticket (no
``arrived_at`` yet) and notifies the gateway; the gateway claims it (``claim_pending``, at most once
per request), asks Asterisk to place it through the trunk (AMI Originate, dialplan context
``siaga-callback``: the citizen first, then the call taker's phone, recorded), and the call's
facts (answered, ended) land on the same row through ``services.calls.write`` keyed by its unique
id,
which the gateway gives the channel itself.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.names import CallDirection, CallOutcome, StreamEvent, TalkResult, ticket_number
from services import audit, events
from services.users.auth import Principal

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "siaga112_callbacks"
CONTEXT = "siaga-callback"
_DIALLABLE = re.compile(r"^\+?[0-9]{3,20}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Callback:
    call_id: int
    uniqueid: str
    ticket_id: int
    number: str
    calltaker: str
    recording_path: str | None = None

    def view(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "uniqueid": self.uniqueid,
            "ticket_id": self.ticket_id,
            "ticket_number": ticket_number(self.ticket_id),
            "number": self.number,
            "calltaker": self.calltaker,
            "direction": CallDirection.CALLBACK.value,
            "outcome": CallOutcome.IN_PROGRESS.value,
        }


def dial_number(number: str) -> str:
    """The number as the trunk dials it: Indonesian E.164 back to the national form."""
    cleaned = re.sub(r"[\s().-]", "", number)
    if cleaned.startswith("+62"):
        cleaned = "0" + cleaned[3:]
    return cleaned


def new_uniqueid() -> str:
    """A unique id for the channel Asterisk will create (Originate's ChannelId), shaped like
    Asterisk's own so every parser takes it: ``cb-<epoch>.<random>``."""
    return f"cb-{int(time.time())}.{secrets.randbelow(10**9)}"


_TICKET = text(
    "SELECT id, caller_number, caller_number_raw, callback_number FROM tickets WHERE id = :id"
)
_INSERT = text(
    "INSERT INTO calls (uniqueid, linkedid, ticket_id, direction, outcome, source, "
    "caller_number, caller_number_raw, calltaker) VALUES (:uniqueid, :uniqueid, :ticket_id, "
    ":direction, :outcome, 'live', :number, :number, :calltaker) RETURNING id"
)


async def request(
    session: AsyncSession,
    ticket_id: int,
    actor: Principal,
    number: str | None = None,
    calltaker: str | None = None,
) -> Callback:
    """Write a callback request on ``ticket_id`` (the caller commits; the gateway is notified on
    commit)."""
    ticket = (await session.execute(_TICKET, {"id": ticket_id})).one_or_none()
    if ticket is None:
        raise NotFound("Tiket tidak ditemukan / ticket not found", {"ticket_id": ticket_id})
    target = number or ticket.callback_number or ticket.caller_number or ticket.caller_number_raw
    if not target:
        raise ValidationFailed(
            "Nomor penelepon tidak diketahui / the caller's number is unknown",
            {"fields": [{"field": "number", "message": "no number to call back"}]},
        )
    dialled = dial_number(str(target))
    if not _DIALLABLE.match(dialled):
        raise ValidationFailed(
            "Nomor tidak valid / not a phone number",
            {"fields": [{"field": "number", "message": "digits only, 3 to 20"}]},
        )
    account = calltaker or actor.sip_account
    if not account or not _ACCOUNT.match(account):
        raise ValidationFailed(
            "Akun telepon petugas tidak diketahui / the call taker's phone account is unknown",
            {"fields": [{"field": "calltaker", "message": "a SIP account is needed"}]},
        )
    uniqueid = new_uniqueid()
    call_id = (
        await session.execute(
            _INSERT,
            {
                "uniqueid": uniqueid,
                "ticket_id": ticket_id,
                "direction": CallDirection.CALLBACK.value,
                "outcome": CallOutcome.IN_PROGRESS.value,
                "number": dialled,
                "calltaker": account,
            },
        )
    ).scalar_one()
    await audit.record(
        session,
        actor=actor.username,
        action="callback.requested",
        entity="ticket",
        entity_id=ticket_id,
        after={"uniqueid": uniqueid, "number": dialled, "calltaker": account},
    )
    await session.execute(
        text("SELECT pg_notify(:channel, :uniqueid)"),
        {"channel": NOTIFY_CHANNEL, "uniqueid": uniqueid},
    )
    await events.publish(
        session,
        StreamEvent.TICKET_UPDATED,
        {"ticket_id": ticket_id, "number": ticket_number(ticket_id), "uniqueid": uniqueid},
    )
    log.info(
        "callback uniqueid=%s requested on ticket %s by %s", uniqueid, ticket_id, actor.username
    )
    return Callback(call_id, uniqueid, ticket_id, dialled, account)


_CLAIM = text(
    "UPDATE calls SET arrived_at = now(), "
    "recording_path = to_char(now() AT TIME ZONE 'UTC', 'YYYY/MM/DD') || '/' || uniqueid || '.wav' "
    "WHERE id IN (SELECT id FROM calls WHERE direction = :direction AND arrived_at IS NULL "
    "AND ended_at IS NULL ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED) "
    "RETURNING id, uniqueid, ticket_id, caller_number, calltaker, recording_path"
)


async def claim_pending(session: AsyncSession, limit: int = 10) -> list[Callback]:
    """Callback requests not placed yet, each claimed once (the caller commits)."""
    rows = (
        await session.execute(_CLAIM, {"direction": CallDirection.CALLBACK.value, "limit": limit})
    ).all()
    return [
        Callback(r.id, r.uniqueid, r.ticket_id, r.caller_number, r.calltaker, r.recording_path)
        for r in rows
    ]


_WORKLIST = text(
    "SELECT t.id AS ticket_id, c.uniqueid, c.outcome, c.triage, c.arrived_at, c.ended_at, "
    "COALESCE(t.callback_number, t.caller_number, c.caller_number) AS number "
    "FROM calls c JOIN tickets t ON t.id = c.ticket_id "
    "WHERE c.direction = :inbound AND c.ended_at IS NOT NULL "
    "AND (c.outcome IN (:dropped, :abandoned) OR c.triage = :silent) "
    "AND COALESCE(t.callback_number, t.caller_number, c.caller_number) IS NOT NULL "
    "AND c.arrived_at > now() - make_interval(hours => :hours) "
    "AND NOT EXISTS (SELECT 1 FROM calls cb WHERE cb.ticket_id = t.id "
    "AND cb.direction = :callback AND cb.id > c.id) "
    "ORDER BY c.arrived_at DESC LIMIT :limit"
)


async def worklist(
    session: AsyncSession, hours: int = 24, limit: int = 200
) -> list[dict[str, Any]]:
    """Dropped, abandoned and silent calls of the last ``hours`` not called back since, newest
    first: the call takers' callback worklist."""
    rows = await session.execute(
        _WORKLIST,
        {
            "inbound": CallDirection.INBOUND.value,
            "callback": CallDirection.CALLBACK.value,
            "dropped": CallOutcome.DROPPED.value,
            "abandoned": CallOutcome.ABANDONED.value,
            "silent": TalkResult.SILENT.value,
            "hours": hours,
            "limit": limit,
        },
    )
    return [
        {
            "ticket_id": r.ticket_id,
            "ticket_number": ticket_number(r.ticket_id),
            "uniqueid": r.uniqueid,
            "outcome": r.outcome,
            "silent": r.triage == TalkResult.SILENT.value,
            "number": r.number,
            "arrived_at": r.arrived_at.isoformat() if r.arrived_at else None,
            "ended_at": r.ended_at.isoformat(),
        }
        for r in rows
    ]
