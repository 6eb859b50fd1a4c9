"""Call facts become calls, tickets and the call timeline.

Every fact the gateway learns about a call (its arrival over FastAGI, each AMI event, the
recording on disk) is a ``CallFact`` keyed by the caller channel's Asterisk unique id. Applying a
fact is an idempotent upsert that may come in any order and any number of times (a spool replay, an
Asterisk retry, two sessions racing): times never move backwards, a known value is never replaced
by a missing one, the outcome only moves forward, and each call gets exactly one ticket.

The SQL is assembled from fixed column names (``POLICY``) only; values always go as parameters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.names import (
    CallDirection,
    CallEventKind,
    CallOutcome,
    StreamEvent,
    TalkResult,
    TicketState,
)
from core.rows import Rows, SessionRows
from services import events
from services.triage import autoclassify
from services.triage import decide as triage

log = logging.getLogger(__name__)

GHOST_NOTE = "probable ghost call"

# How a fact's value merges with what the row holds.
FIRST, LAST, MIN, MAX = "first", "last", "min", "max"
POLICY: dict[str, str] = {
    "linkedid": FIRST,
    "channel": FIRST,
    "caller_number": FIRST,
    "caller_number_raw": FIRST,
    "caller_name": FIRST,
    "dialled": FIRST,
    "arrived_at": MIN,
    "queued_at": MIN,
    "answered_at": MIN,
    "ended_at": MAX,
    "calltaker": LAST,
    "queue": LAST,
    "queue_priority": LAST,
    "queue_position": FIRST,  # the position on joining; an abandon overrides it (below)
    "wait_seconds": LAST,
    "talk_seconds": LAST,
    "hangup_cause": LAST,
    "hangup_cause_text": LAST,
    "recording_path": LAST,
    "recording_seconds": LAST,
    "triage": LAST,
}
# Column limits (models/call.py): longer values are cut, never refused.
LIMITS = {
    "linkedid": 64,
    "channel": 128,
    "caller_number": 32,
    "caller_number_raw": 80,
    "caller_name": 80,
    "dialled": 32,
    "calltaker": 64,
    "queue": 64,
    "hangup_cause_text": 80,
    "recording_path": 255,
    "triage": 20,
}
# The time column each kind of fact sets from the fact's own time.
TIME_COLUMN = {
    CallEventKind.ARRIVED: "arrived_at",
    CallEventKind.QUEUED: "queued_at",
    CallEventKind.ANSWERED: "answered_at",
    CallEventKind.ENDED: "ended_at",
}
# The outcome each kind of fact implies; outcomes only move up this order.
OUTCOME_OF = {
    CallEventKind.ANSWERED: CallOutcome.ANSWERED,
    CallEventKind.COMPLETED: CallOutcome.ANSWERED,
    CallEventKind.ABANDONED: CallOutcome.ABANDONED,
    CallEventKind.ENDED: CallOutcome.DROPPED,
}
OUTCOME_ORDER = [
    CallOutcome.IN_PROGRESS,
    CallOutcome.FAILED,
    CallOutcome.DROPPED,
    CallOutcome.ABANDONED,
    CallOutcome.ANSWERED,
]
_ORDER_SQL = "ARRAY[" + ",".join(f"'{o.value}'" for o in OUTCOME_ORDER) + "]::text[]"


@dataclass(frozen=True, slots=True)
class CallFact:
    """One thing learned about one call; ``data`` holds column values (``POLICY``) and extras."""

    kind: str  # a CallEventKind
    uniqueid: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    # False: only update a call already known (facts about channels that may not be 112 callers)
    may_create: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "uniqueid": self.uniqueid,
            "at": self.at.isoformat(),
            "data": self.data,
            "may_create": self.may_create,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CallFact:
        at = datetime.fromisoformat(str(raw["at"]))
        if at.tzinfo is None:
            raise ValueError("fact time without a time zone")
        return cls(
            kind=CallEventKind(str(raw["kind"])).value,
            uniqueid=str(raw["uniqueid"])[:64],
            at=at,
            data=dict(raw.get("data") or {}),
            may_create=bool(raw.get("may_create", True)),
        )


@dataclass(frozen=True, slots=True)
class FactResult:
    call_id: int | None = None
    ticket_id: int | None = None
    ticket_opened: bool = False  # this fact opened the call's ticket
    decision: triage.TriageDecision | None = None  # arrivals only

    @property
    def ticket_number(self) -> str | None:
        return ticket_number(self.ticket_id) if self.ticket_id is not None else None


def ticket_number(ticket_id: int) -> str:
    """The number people see (``Ticket.number``)."""
    return f"T{ticket_id:06d}"


def _values(fact: CallFact) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in fact.data.items():
        if name not in POLICY or value is None or value == "":
            continue
        if name in LIMITS:
            value = str(value)[: LIMITS[name]]
        elif name.endswith("_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)  # times come back from the spool as text
        values[name] = value
    time_column = TIME_COLUMN.get(CallEventKind(fact.kind))
    if time_column:
        values[time_column] = fact.at
    return values


def merge_sql(name: str, kind: str) -> str:
    policy = POLICY[name]
    if name == "queue_position" and kind == CallEventKind.ABANDONED:
        policy = LAST
    if policy == FIRST:
        return f"{name} = COALESCE(calls.{name}, EXCLUDED.{name})"
    if policy == LAST:
        return f"{name} = COALESCE(EXCLUDED.{name}, calls.{name})"
    if policy == MIN:
        return f"{name} = LEAST(calls.{name}, EXCLUDED.{name})"
    return f"{name} = GREATEST(calls.{name}, EXCLUDED.{name})"


OUTCOME_MERGE = (
    f"outcome = CASE WHEN array_position({_ORDER_SQL}, EXCLUDED.outcome::text) > "
    f"array_position({_ORDER_SQL}, calls.outcome::text) "
    "THEN EXCLUDED.outcome ELSE calls.outcome END"
)
# A fact's ``data`` key for the ticket id the gateway drew ahead and answered the call with
# (``gateway.ahead``): whichever fact opens the call's ticket opens it with that id. Spooled facts
# keep it.
DRAWN_TICKET = "drawn_ticket_id"
_RETURNING = (
    "RETURNING id, ticket_id, caller_number, caller_number_raw, queue_priority, answered_at, "
    "(SELECT tk.classified_by FROM tickets tk WHERE tk.id = calls.ticket_id) AS classified_by"
)
# The stream event a fact of these kinds publishes about its call's ticket, in the fact's own
# statement (its data: ``_after_data``).
AFTER_EVENT = {
    CallEventKind.ANSWERED: StreamEvent.CALL_ANSWERED,
    CallEventKind.ENDED: StreamEvent.CALL_ENDED,
}
_NUMBER_SQL = "'T' || lpad({id}::text, greatest(6, length({id}::text)), '0')"
_statements: dict[tuple[str, tuple[str, ...], bool], str] = {}


def upsert_sql(kind: str, columns: tuple[str, ...], may_create: bool) -> str:
    """The statement for a fact of ``kind`` carrying ``columns``, built once and kept. (Arrivals
    have a statement of their own that takes many at once: ``services.calls.arrivals``.)"""
    key = (kind, columns, may_create)
    statement = _statements.get(key)
    if statement is not None:
        return statement
    if may_create:
        # One statement: the timeline row, the call, its ticket when it has none yet (the ticket
        # id is drawn first, so the call can refer to it), the ticket.opened event and the
        # fact's own event (AFTER_EVENT), in services.events' channel and payload shape.
        names = ", ".join(("uniqueid", "direction", "outcome", "source", "ticket_id", *columns))
        params = ", ".join(
            [":uniqueid", ":direction", ":outcome", ":source", "(SELECT tid FROM ids)"]
            + [f":{n}" for n in columns]
        )
        merges = [merge_sql(c, kind) for c in columns] + [
            OUTCOME_MERGE,
            "ticket_id = COALESCE(calls.ticket_id, EXCLUDED.ticket_id)",
        ]
        sql = (
            "WITH ids AS (SELECT CASE WHEN EXISTS ("  # noqa: S608
            "SELECT 1 FROM calls WHERE uniqueid = :uniqueid AND ticket_id IS NOT NULL) THEN NULL "
            "ELSE COALESCE(CAST(:drawn AS bigint), "
            "nextval(pg_get_serial_sequence('tickets', 'id'))) END AS tid), "
            "ev AS (INSERT INTO call_events (uniqueid, kind, at, data) "
            "VALUES (:uniqueid, :kind, :at, CAST(:event_data AS jsonb)) "
            "ON CONFLICT (uniqueid, kind, at) DO NOTHING), "
            f"c AS (INSERT INTO calls ({names}) VALUES ({params}) "
            f"ON CONFLICT (uniqueid) DO UPDATE SET {', '.join(merges)} {_RETURNING}), "
            "t AS (INSERT INTO tickets (id, state, priority, caller_number, caller_number_raw, "
            "triage_note, created_at, updated_at) "
            "SELECT c.ticket_id, :state, COALESCE(c.queue_priority, :normal_priority), "
            "c.caller_number, c.caller_number_raw, :note, :at, now() "
            # two facts of a call answered ahead may both open its drawn ticket: the first does
            "FROM c JOIN ids ON c.ticket_id = ids.tid ON CONFLICT (id) DO NOTHING "
            "RETURNING id, priority, caller_number) "
            "SELECT c.id, c.ticket_id, c.caller_number, c.caller_number_raw, c.queue_priority, "
            "c.answered_at, c.classified_by, t.id IS NOT NULL AS opened, "
            "CASE WHEN t.id IS NOT NULL THEN pg_notify(:notify_channel, jsonb_build_object("
            "'event', CAST(:opened_event AS text), 'data', jsonb_build_object("
            f"'ticket_id', t.id, 'number', {_NUMBER_SQL.format(id='t.id')}, "
            "'uniqueid', CAST(:uniqueid AS text), 'caller_number', t.caller_number, "
            "'priority', t.priority))::text) END AS notified"
        )
        if CallEventKind(kind) in AFTER_EVENT:
            sql += (
                ", pg_notify(:notify_channel, jsonb_build_object("
                "'event', CAST(:after_event AS text), 'data', jsonb_build_object("
                f"'ticket_id', c.ticket_id, 'number', {_NUMBER_SQL.format(id='c.ticket_id')}, "
                "'uniqueid', CAST(:uniqueid AS text)) || CAST(:after_data AS jsonb))::text) "
                "AS after_notified"
            )
        sql += " FROM c LEFT JOIN t ON true"
    else:
        # the same merge rules, written for a plain UPDATE of a known call
        sets = [_update_merge(c, kind) for c in columns]
        sets.append(
            f"outcome = CASE WHEN array_position({_ORDER_SQL}, CAST(:outcome AS text)) > "
            f"array_position({_ORDER_SQL}, outcome::text) THEN :outcome ELSE outcome END"
        )
        sql = f"UPDATE calls SET {', '.join(sets)} WHERE uniqueid = :uniqueid {_RETURNING}"  # noqa: S608
    _statements[key] = sql
    return sql


def _update_merge(name: str, kind: str) -> str:
    policy = POLICY[name]
    if name == "queue_position" and kind == CallEventKind.ABANDONED:
        policy = LAST
    if policy == FIRST:
        return f"{name} = COALESCE({name}, :{name})"
    if policy == LAST:
        return f"{name} = COALESCE(:{name}, {name})"
    if policy == MIN:
        return f"{name} = LEAST({name}, :{name})"
    return f"{name} = GREATEST({name}, :{name})"


_ADD_EVENT = (
    "INSERT INTO call_events (uniqueid, kind, at, data) "
    "VALUES (:uniqueid, :kind, :at, CAST(:event_data AS jsonb)) "
    "ON CONFLICT (uniqueid, kind, at) DO NOTHING"
)
FILL_TICKET_CALLER = (
    "UPDATE tickets SET caller_number = COALESCE(caller_number, :caller_number), "
    "caller_number_raw = COALESCE(caller_number_raw, :caller_number_raw) "
    "WHERE id = :ticket_id AND (caller_number IS NULL OR caller_number_raw IS NULL) RETURNING id"
)
_ADD_NOTE = (
    "UPDATE tickets SET triage_note = CASE "
    "WHEN triage_note IS NULL OR triage_note = '' THEN :note "
    "WHEN position(:note in triage_note) > 0 THEN triage_note "
    "ELSE triage_note || '; ' || :note END, updated_at = now() "
    "WHERE id = :ticket_id AND (triage_note IS NULL OR position(:note in triage_note) = 0)"
)


def _params(fact: CallFact, data: dict[str, Any], notes: str | None) -> dict[str, Any]:
    kind = CallEventKind(fact.kind)
    return {
        "state": TicketState.NEW.value,
        "normal_priority": triage.NORMAL_PRIORITY,
        "note": notes,
        "notify_channel": events.CHANNEL,
        "opened_event": StreamEvent.TICKET_OPENED.value,
        "uniqueid": fact.uniqueid,
        "direction": CallDirection.INBOUND.value,
        "outcome": OUTCOME_OF.get(kind, CallOutcome.IN_PROGRESS).value,
        "source": str(data.get("source") or "live")[:12],
        "kind": kind.value,
        "at": fact.at,
        "event_data": json.dumps(data, default=str),
        "drawn": data.get(DRAWN_TICKET),
        "after_event": AFTER_EVENT[kind].value if kind in AFTER_EVENT else None,
        "after_data": json.dumps(_after_data(kind, data)) if kind in AFTER_EVENT else None,
        **_values(CallFact(fact.kind, fact.uniqueid, fact.at, data, fact.may_create)),
    }


def _after_data(kind: CallEventKind, data: dict[str, Any]) -> dict[str, Any]:
    """What the fact's own event (AFTER_EVENT) carries besides the ticket and the call."""
    return {"calltaker": data.get("calltaker")} if kind is CallEventKind.ANSWERED else {}


def decided_params(fact: CallFact, decision: triage.TriageDecision) -> dict[str, Any]:
    data = dict(fact.data)
    data["queue_priority"] = decision.priority
    data["triage_code"] = decision.code
    if decision.reasons:
        data["triage_reasons"] = [str(r) for r in decision.reasons]
    return _params(fact, data, triage.format_reasons(decision))


async def apply_fact(db: AsyncSession | Rows, fact: CallFact) -> FactResult:
    """Write ``fact`` into the call, its ticket and its timeline, in the transaction of ``db`` (an
    ORM session, or ``Rows`` on the gateway's own connection).

    Publishes the matching stream events in the same transaction. The caller commits.
    """
    rows = SessionRows(db) if isinstance(db, AsyncSession) else db
    kind = CallEventKind(fact.kind)
    if kind is CallEventKind.ARRIVED and fact.may_create:
        from services.calls.arrivals import arrive  # it builds on this module

        return await arrive(rows, fact)
    params = _params(fact, dict(fact.data), None)
    columns = tuple(sorted(k for k in params if k in POLICY))
    row = await rows.row(upsert_sql(kind.value, columns, fact.may_create), params)
    if row is None or row["id"] is None:  # an update-only fact about a channel no known call has
        return FactResult()
    if not fact.may_create:
        await rows.execute(_ADD_EVENT, params)
    ticket_id = row["ticket_id"]
    if ticket_id is not None:
        await _after(rows, kind, fact, row)
    opened = bool(row["opened"]) if fact.may_create else False
    return FactResult(int(row["id"]), ticket_id, opened, None)


async def _after(rows: Rows, kind: CallEventKind, fact: CallFact, row: Mapping[str, Any]) -> None:
    """What a fact does besides its call's row: its event (published by the upsert itself when
    the fact may create the call), the ghost note, the automatic classification."""
    ticket_id = row["ticket_id"]
    base = {"ticket_id": ticket_id, "number": ticket_number(ticket_id), "uniqueid": fact.uniqueid}
    if kind in AFTER_EVENT and not fact.may_create:
        await events.publish_on(rows, AFTER_EVENT[kind], {**base, **_after_data(kind, fact.data)})
    if kind is CallEventKind.TRIAGE and fact.data.get("triage") == TalkResult.SILENT:
        await rows.execute(_ADD_NOTE, {"ticket_id": ticket_id, "note": GHOST_NOTE})
        await events.publish_on(rows, StreamEvent.TICKET_UPDATED, base)
    if kind in (CallEventKind.ENDED, CallEventKind.ANSWERED):
        # a call that ended before a call taker spoke is classified ghost by the system; an
        # answer (even one learned late) leaves the classification to the call taker (issue 5).
        # An answered call changes nothing unless the system had classified the ticket (facts
        # can come out of order): then the classification is withdrawn.
        if row["answered_at"] is None or row["classified_by"] == autoclassify.AUTO:
            await autoclassify.on_call_ended(rows, ticket_id)
