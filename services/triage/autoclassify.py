"""Calls that end before a call taker speaks are classified by the system, not by people.

``on_call_ended(session, ticket_id)`` is called by the gateway when a call of the ticket ends (and
may be called again for any later fact: it is idempotent and looks at all of the ticket's calls):

- a call taker answered one of the ticket's calls: the call taker classifies; an earlier automatic
  classification (facts can arrive out of order) is withdrawn;
- the caller stayed silent through the silent-call step and hung up (in the queue or before):
  ghost, "diam";
- the caller hung up while queued: ghost, "ditutup saat antre" (abandoned in the queue);
- the caller hung up in the greeting: ghost, "ditutup saat salam";
- Asterisk could not complete the call (``failed``): left unclassified, it is the centre's fault and
  goes to the callback worklist.

``classified_by`` is ``"auto"``. A classification made by a person is never overwritten. The
ticket's state is left alone: an automatically classified ghost call stays workable for a callback
(which joins the same ticket) and is on the callback worklist (``callback_worklist``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import (
    CallDirection,
    CallOutcome,
    Classification,
    StreamEvent,
    TalkResult,
    ticket_number,
)
from core.rows import Rows, SessionRows
from core.timeutil import utcnow
from services import audit, events

log = logging.getLogger(__name__)

AUTO = "auto"

REASONS = {
    "abandoned": "Panggilan kosong otomatis: penelepon menutup telepon saat antre",
    "silent": "Panggilan kosong otomatis: penelepon diam dan menutup sebelum dijawab",
    "greeting": "Panggilan kosong otomatis: penelepon menutup telepon saat salam pembuka",
}

_TICKET = (
    "SELECT id, classification, classified_by, triage_note FROM tickets WHERE id = :id FOR UPDATE"
)
_CALLS = "SELECT outcome, triage, answered_at, ended_at FROM calls WHERE ticket_id = :id"
_SET = (
    "UPDATE tickets SET classification = CAST(:classification AS varchar), "
    "classified_by = CAST(:by AS varchar), "
    "triage_note = CASE WHEN CAST(:note AS text) IS NULL THEN triage_note "
    "WHEN triage_note IS NULL OR triage_note = '' THEN CAST(:note AS text) "
    "WHEN position(CAST(:note AS text) in triage_note) > 0 THEN triage_note "
    "ELSE triage_note || '; ' || CAST(:note AS text) END, updated_at = now() WHERE id = :id"
)


def verdict(calls: Sequence[Mapping[str, Any]]) -> str | None:
    """The automatic reason for a ticket's calls ("abandoned", "silent", "greeting"), "answered"
    when a call taker answered, None while a call goes on or when the centre failed the caller."""
    outcomes = [c["outcome"] for c in calls]
    if any(c["answered_at"] is not None for c in calls) or CallOutcome.ANSWERED in outcomes:
        return "answered"
    if not calls or any(
        c["ended_at"] is None and c["outcome"] == CallOutcome.IN_PROGRESS for c in calls
    ):
        return None
    if CallOutcome.FAILED in outcomes:
        return None
    if any(c["triage"] == TalkResult.SILENT for c in calls):
        return "silent"
    if CallOutcome.ABANDONED in outcomes:
        return "abandoned"
    if all(o == CallOutcome.DROPPED for o in outcomes):
        return "greeting"
    return None


async def on_call_ended(db: AsyncSession | Rows, ticket_id: int) -> str | None:
    """Classify the ticket's calls if they all ended unanswered; returns the classification it
    holds afterwards when this function set or kept it (``"ghost"``), else None. Runs in the
    transaction of ``db`` (an ORM session or the gateway's ``Rows``); the caller commits."""
    rows = SessionRows(db) if isinstance(db, AsyncSession) else db
    ticket = await rows.row(_TICKET, {"id": ticket_id})
    if ticket is None:
        return None
    if ticket["classification"] is not None and ticket["classified_by"] != AUTO:
        return None  # a person decided; never overwrite
    reason = verdict(await rows.rows(_CALLS, {"id": ticket_id}))
    if reason == "answered" or reason is None:
        if ticket["classified_by"] == AUTO and reason == "answered":
            await _write(rows, ticket, None, None, None, "ticket.unclassify")
        return None
    if ticket["classification"] == Classification.GHOST and ticket["classified_by"] == AUTO:
        return Classification.GHOST.value
    await _write(rows, ticket, Classification.GHOST.value, AUTO, REASONS[reason], "ticket.classify")
    log.info("ticket %s classified ghost automatically (%s)", ticket_number(ticket_id), reason)
    return Classification.GHOST.value


async def _write(
    rows: Rows,
    ticket: Mapping[str, Any],
    classification: str | None,
    by: str | None,
    note: str | None,
    action: str,
) -> None:
    ticket_id = ticket["id"]
    await rows.execute(
        _SET, {"id": ticket_id, "classification": classification, "by": by, "note": note}
    )
    await audit.insert(
        rows,
        actor=AUTO,
        action=action,
        entity="ticket",
        entity_id=ticket_id,
        before={
            "classification": ticket["classification"],
            "classified_by": ticket["classified_by"],
        },
        after={"classification": classification, "classified_by": by, "note": note},
    )
    await events.publish_on(
        rows,
        StreamEvent.TICKET_UPDATED,
        {
            "ticket_id": ticket_id,
            "id": ticket_id,
            "number": ticket_number(ticket_id),
            "classification": classification,
        },
    )


_WORKLIST = text(
    "SELECT * FROM (SELECT DISTINCT ON (c.caller_number) c.id AS call_id, c.uniqueid, "
    "c.ticket_id, c.caller_number, c.arrived_at, c.ended_at, c.outcome, c.triage, "
    "c.queue_position, c.wait_seconds, t.classification, t.classified_by, t.state, "
    "count(*) OVER (PARTITION BY c.caller_number) AS missed_calls "
    "FROM calls c LEFT JOIN tickets t ON t.id = c.ticket_id "
    "WHERE c.arrived_at >= :since AND c.arrived_at <= :now AND c.direction = :inbound "
    "AND c.caller_number IS NOT NULL AND c.answered_at IS NULL "
    "AND c.outcome IN (:dropped, :abandoned, :failed) "
    "AND (t.classified_by IS NULL OR t.classified_by = :auto) "
    "AND NOT EXISTS (SELECT 1 FROM calls later WHERE later.caller_number = c.caller_number "
    "AND later.arrived_at >= c.arrived_at AND later.answered_at IS NOT NULL) "
    # a callback joins the missed call's ticket (its number may be in calls.dialled only)
    "AND NOT EXISTS (SELECT 1 FROM calls cb WHERE cb.ticket_id = c.ticket_id "
    "AND cb.answered_at IS NOT NULL) "
    "ORDER BY c.caller_number, c.arrived_at DESC) w ORDER BY arrived_at DESC LIMIT :limit"
)


async def callback_worklist(
    session: AsyncSession,
    now: datetime | None = None,
    limit: int = 200,
    *,
    hours: float = 24.0,
) -> list[dict[str, Any]]:
    """Dropped, abandoned, silent and failed calls of the last ``hours`` with a caller number and
    no later successful contact (no later answered call, inbound or callback, with that number),
    one row per number (its latest missed call, with how many it missed), newest first. Tickets a
    person has classified (a prank call taken, say) are left out."""
    now = now or utcnow()
    rows = await session.execute(
        _WORKLIST,
        {
            "since": now - timedelta(hours=hours),
            "now": now,
            "inbound": CallDirection.INBOUND.value,
            "dropped": CallOutcome.DROPPED.value,
            "abandoned": CallOutcome.ABANDONED.value,
            "failed": CallOutcome.FAILED.value,
            "auto": AUTO,
            "limit": max(1, min(limit, 1000)),
        },
    )
    result = []
    for r in rows:
        item = dict(r._mapping)
        item["ticket_number"] = ticket_number(r.ticket_id) if r.ticket_id else None
        result.append(item)
    return result
