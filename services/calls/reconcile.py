"""Reconciliation: Asterisk's own records turned into call facts for calls the gateway missed.

Asterisk writes, by itself and whatever the gateway does:

- one CDR line per 112 call in ``<instance>/log/cdr-custom/siaga112.csv`` (asterisk_conf/
  cdr_custom.conf): the caller channel's uniqueid and linkedid, caller number, start / answer / end
  (epoch), disposition, the recording's name (``userfield``) and the ticket number if the gateway
  gave one;
- ``<instance>/log/queue_log``: ENTERQUEUE, CONNECT (call taker, hold time), COMPLETECALLER /
  COMPLETEAGENT (talk time) and ABANDON (position, wait time) for each caller uniqueid.

Together they hold everything a ticket needs. ``facts_for`` rebuilds the same ``CallFact``s the
live path would have produced (times taken from the files, so applying them twice adds nothing)
and ``services.calls.write.apply_fact`` upserts them by uniqueid: a call the gateway never saw gets
its
ticket, a call it saw partly is completed, and a call it saw fully is left alone (``needs_work``).
Pure parsing plus one query; no I/O on Asterisk here (``gateway.reconcile`` reads the files).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import phone
from core.names import CallEventKind, CallOutcome
from services.calls.facts import CallFact

log = logging.getLogger(__name__)

CDR_COLUMNS = (
    "uniqueid",
    "linkedid",
    "src",
    "clid",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "userfield",
    "ticket",
    "sequence",
)
# A 112 caller's channel ends its CDR in one of these contexts (asterisk_conf/extensions.conf).
CALLER_CONTEXT_PREFIX = "siaga-112"
SOURCE = "reconciled"


def _epoch(value: str | None) -> datetime | None:
    try:
        number = float(value or "")
    except ValueError:
        return None
    if number <= 0:
        return None
    return datetime.fromtimestamp(number, UTC)


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


@dataclass
class AsteriskCall:
    """What Asterisk recorded about one 112 call (keyed by the caller channel's uniqueid)."""

    uniqueid: str
    linkedid: str | None = None
    caller: str | None = None
    channel: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    recording: str | None = None
    ticket: str | None = None
    queue: str | None = None
    queued_at: datetime | None = None
    position: int | None = None
    connected_at: datetime | None = None
    calltaker: str | None = None
    hold_seconds: float | None = None
    completed_at: datetime | None = None
    talk_seconds: float | None = None
    abandoned_at: datetime | None = None
    abandon_position: int | None = None
    wait_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_cdr(
    content: str, calls: dict[str, AsteriskCall] | None = None
) -> dict[str, AsteriskCall]:
    """112 caller channels from CDR lines; several lines for one uniqueid are merged (into
    ``calls`` when given: lines read in several pieces merge as if read at once)."""
    calls = {} if calls is None else calls
    for row in csv.reader(io.StringIO(content)):
        if len(row) < len(CDR_COLUMNS) - 1:
            continue
        r = dict(zip(CDR_COLUMNS, row, strict=False))
        uniqueid, linkedid = r["uniqueid"].strip(), r["linkedid"].strip()
        if not uniqueid or (linkedid and linkedid != uniqueid):
            continue  # not the caller's own channel
        if not r["dcontext"].startswith(CALLER_CONTEXT_PREFIX):
            continue  # refused numbers, call takers, callbacks
        call = calls.setdefault(uniqueid, AsteriskCall(uniqueid))
        call.linkedid = call.linkedid or linkedid or None
        call.caller = call.caller or (r["src"].strip() or None)
        call.channel = call.channel or (r["channel"].strip() or None)
        start, end = _epoch(r["start"]), _epoch(r["end"])
        if start and (call.start is None or start < call.start):
            call.start = start
        if end and (call.end is None or end > call.end):
            call.end = end
        call.recording = call.recording or (r["userfield"].strip() or None)
        call.ticket = call.ticket or (r.get("ticket", "").strip() or None)
    return calls


def queue_log_callid(line: str) -> str | None:
    """The caller uniqueid a queue log line is about (None for the queue's own lines)."""
    parts = line.split("|", 5)
    if len(parts) < 5 or parts[1] in ("", "NONE"):
        return None
    return parts[1]


def apply_queue_log(calls: dict[str, AsteriskCall], content: str) -> None:
    """Add the queue's outcome (``time|callid|queue|agent|event|data...``) to known calls.
    Applying the same lines again changes nothing."""
    for line in content.splitlines():
        parts = line.split("|")
        if len(parts) < 5:
            continue
        at, callid, queue, agent, event = _epoch(parts[0]), parts[1], parts[2], parts[3], parts[4]
        data = [*parts[5:], "", "", ""]
        call = calls.get(callid)
        if call is None or at is None:
            continue
        if event == "ENTERQUEUE":
            call.queue, call.queued_at = queue, at
            call.position = _int(data[2])
        elif event == "CONNECT":
            call.connected_at, call.calltaker = at, agent if agent != "NONE" else None
            call.hold_seconds = _float(data[0])
        elif event in ("COMPLETECALLER", "COMPLETEAGENT"):
            call.completed_at = at
            call.hold_seconds = _float(data[0]) if call.hold_seconds is None else call.hold_seconds
            call.talk_seconds = _float(data[1])
            if agent != "NONE":
                call.calltaker = call.calltaker or agent
        elif event in ("ABANDON", "EXITEMPTY", "EXITWITHTIMEOUT"):
            call.abandoned_at = at
            call.abandon_position = _int(data[0])
            call.wait_seconds = _float(data[2])


def _float(value: str) -> float | None:
    number = _int(value)
    return float(number) if number is not None and number >= 0 else None


def facts_for(call: AsteriskCall, recording_seconds: float | None = None) -> list[CallFact]:
    """The facts the live path would have written for ``call``, in time order. Every fact's time
    comes from Asterisk's records, so the same call always gives the same facts."""
    if call.start is None:
        return []
    facts: list[CallFact] = []
    opened: dict[str, Any] = {
        "arrived_at": call.start.isoformat(),
        "caller_number_raw": call.caller,
        "caller_number": phone.normalise(call.caller) if call.caller else None,
        "channel": call.channel,
        "linkedid": call.linkedid,
        "recording_path": call.recording,
        "source": SOURCE,
    }
    facts.append(_fact(CallEventKind.RECONCILED, call, call.start, opened))
    if call.queued_at:
        facts.append(
            _fact(
                CallEventKind.QUEUED,
                call,
                call.queued_at,
                {"queue": call.queue, "queue_position": call.position},
            )
        )
    if call.connected_at:
        facts.append(
            _fact(
                CallEventKind.ANSWERED,
                call,
                call.connected_at,
                {"calltaker": call.calltaker, "wait_seconds": call.hold_seconds},
            )
        )
    if call.completed_at:
        facts.append(
            _fact(
                CallEventKind.COMPLETED,
                call,
                call.completed_at,
                {
                    "calltaker": call.calltaker,
                    "wait_seconds": call.hold_seconds,
                    "talk_seconds": call.talk_seconds,
                },
            )
        )
    if call.abandoned_at and not call.connected_at:
        facts.append(
            _fact(
                CallEventKind.ABANDONED,
                call,
                call.abandoned_at,
                {
                    "queue": call.queue,
                    "queue_position": call.abandon_position,
                    "wait_seconds": call.wait_seconds,
                },
            )
        )
    if call.end:
        facts.append(_fact(CallEventKind.ENDED, call, call.end, {"channel": call.channel}))
    if call.recording and call.end:
        facts.append(
            _fact(
                CallEventKind.RECORDING,
                call,
                call.end,
                {"recording_path": call.recording, "recording_seconds": recording_seconds},
            )
        )
    return facts


def _fact(kind: CallEventKind, call: AsteriskCall, at: datetime, data: dict[str, Any]) -> CallFact:
    clean = {k: v for k, v in data.items() if v is not None}
    clean.setdefault("source", SOURCE)
    return CallFact(kind.value, call.uniqueid, at, clean)


_KNOWN = text(
    "SELECT uniqueid, ticket_id, outcome, arrived_at, ended_at, recording_path, answered_at, "
    "caller_number_raw, calltaker, talk_seconds FROM calls WHERE uniqueid = ANY(:ids)"
)
# A call first learned from its last events (the gateway came back mid-call) opened its ticket
# without the caller's number: the ticket takes it from the reconciled call.
_FILL_TICKET_CALLER = text(
    "UPDATE tickets t SET caller_number = COALESCE(t.caller_number, c.caller_number), "
    "caller_number_raw = COALESCE(t.caller_number_raw, c.caller_number_raw), updated_at = now() "
    "FROM calls c WHERE c.uniqueid = :uniqueid AND c.ticket_id = t.id "
    "AND (t.caller_number IS NULL OR t.caller_number_raw IS NULL) "
    "AND c.caller_number_raw IS NOT NULL"
)


async def fill_ticket_caller(session: AsyncSession, uniqueid: str) -> None:
    await session.execute(_FILL_TICKET_CALLER, {"uniqueid": uniqueid})


async def needs_work(session: AsyncSession, calls: Iterable[AsteriskCall]) -> list[AsteriskCall]:
    """The calls whose ticket is missing or incomplete (no end, no outcome, no recording, or an
    answer or a talk time Asterisk knew of and the gateway did not)."""
    by_id = {c.uniqueid: c for c in calls}
    if not by_id:
        return []
    rows = (await session.execute(_KNOWN, {"ids": list(by_id)})).all()
    known = {row.uniqueid: row for row in rows}
    todo = []
    for uniqueid, call in by_id.items():
        row = known.get(uniqueid)
        if (
            row is None
            or row.ticket_id is None
            or row.ended_at is None
            or row.arrived_at is None
            or (call.caller and not row.caller_number_raw)
            or row.outcome == CallOutcome.IN_PROGRESS.value
            or (call.recording and not row.recording_path)
            or (call.connected_at and row.answered_at is None)
            or (call.calltaker and not row.calltaker)
            or (call.talk_seconds is not None and row.talk_seconds is None)
        ):
            todo.append(call)
    return todo
