"""Call facts other than arrivals become calls, tickets and the call timeline.

Writing a fact (``services.calls.facts``) is an idempotent upsert under the merge rules of
``POLICY``; each call gets exactly one ticket. Arrivals, many at once, are
``services.calls.arrivals``'; ``services.calls.apply`` sends each fact to the right one.

The SQL is assembled from fixed column names (``POLICY``) only; values always go as parameters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from core.names import (
    CallDirection,
    CallEventKind,
    CallOutcome,
    StreamEvent,
    TalkResult,
    TicketState,
    ticket_number,
    ticket_number_sql,
)
from core.rows import Rows
from services import events
from services.calls.facts import (
    OUTCOME_OF,
    POLICY,
    CallFact,
    FactResult,
    column_values,
    merge_sql,
    outcome_sql,
)
from services.triage import autoclassify
from services.triage import decide as triage

log = logging.getLogger(__name__)

GHOST_NOTE = "probable ghost call"

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
        merges = [merge_sql(c, kind, f"calls.{c}", f"EXCLUDED.{c}") for c in columns] + [
            outcome_sql("calls.outcome", "EXCLUDED.outcome"),
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
            f"'ticket_id', t.id, 'number', {ticket_number_sql('t.id')}, "
            "'uniqueid', CAST(:uniqueid AS text), 'caller_number', t.caller_number, "
            "'priority', t.priority))::text) END AS notified"
        )
        if CallEventKind(kind) in AFTER_EVENT:
            sql += (
                ", pg_notify(:notify_channel, jsonb_build_object("
                "'event', CAST(:after_event AS text), 'data', jsonb_build_object("
                f"'ticket_id', c.ticket_id, 'number', {ticket_number_sql('c.ticket_id')}, "
                "'uniqueid', CAST(:uniqueid AS text)) || CAST(:after_data AS jsonb))::text) "
                "AS after_notified"
            )
        sql += " FROM c LEFT JOIN t ON true"
    else:
        # the same merge rules, written for a plain UPDATE of a known call
        sets = [merge_sql(c, kind, c, f":{c}") for c in columns]
        sets.append(outcome_sql("outcome", ":outcome"))
        sql = f"UPDATE calls SET {', '.join(sets)} WHERE uniqueid = :uniqueid {_RETURNING}"  # noqa: S608
    _statements[key] = sql
    return sql


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
        "drawn": fact.drawn_ticket_id,
        "after_event": AFTER_EVENT[kind].value if kind in AFTER_EVENT else None,
        "after_data": json.dumps(_after_data(kind, data)) if kind in AFTER_EVENT else None,
        **column_values(replace(fact, data=data)),
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


async def write_fact(rows: Rows, fact: CallFact) -> FactResult:
    """Write ``fact`` (any fact but an arrival that may open the call: ``services.calls.arrivals``)
    into the call, its ticket and its timeline, in the transaction of ``rows``, with the matching
    stream events. The caller commits."""
    kind = CallEventKind(fact.kind)
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
    base = {
        "ticket_id": ticket_id,
        "number": ticket_number(ticket_id),
        "uniqueid": fact.uniqueid,
    }
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
