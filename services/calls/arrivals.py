"""Arriving calls become calls, tickets, timeline rows and ``ticket.opened`` events, many at once.

An arrival reads the caller's triage history (prank and ghost tickets in the policy window, live
flags) and writes the call, its ticket (when the call has none), the call's first timeline row and
the event. ``arrive_many`` does that for a batch in one statement: one round trip, one commit and
one plan for all of them. The gateway writes the arrivals that come in while a write is running as
the next batch (``gateway.call_path.arrival_writer``), so a surge costs the database per batch, not
per call; a call arriving alone is a batch of one.

Per batch:
1. the gated statement writes every arrival whose caller has no history (nearly all of them) and
   returns the others' history, writing nothing for them;
2. those get their decision (``services.triage.decide``) and the same statement, ungated,
   writes them;
3. a repeated arrival of a call whose ticket lacks the caller's number fills it in.

The merge rules are ``services.calls.facts``' (``POLICY``): a column an arrival lacks goes in as
NULL, which every rule treats as "no value", so one statement serves arrivals carrying different
columns.
The SQL is assembled from fixed column names only; values always go as parameters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.dialects import postgresql

from core.names import CallEventKind, ticket_number_sql
from core.phone import normalise
from core.rows import Rows
from models import Call
from services.calls.facts import POLICY, CallFact, FactResult, merge_sql, outcome_sql
from services.calls.write import FILL_TICKET_CALLER, decided_params
from services.triage import decide as triage
from services.triage.policy import PolicySettings

ARRIVED = CallEventKind.ARRIVED.value
# Per-arrival values besides the call's columns, with their SQL types.
_PER_ROW = (
    ("uniqueid", "text"),
    ("at", "timestamptz"),
    ("number", "text"),  # the normalised caller number whose history is read (NULL: none)
    ("since", "timestamptz"),  # start of the policy window for prank/ghost tickets
    ("flag_since", "timestamptz"),  # start of the window for flags
    ("source", "text"),
    ("event_data", "text"),
    ("note", "text"),  # the ticket's triage note
    ("drawn", "bigint"),  # the ticket id drawn ahead (NULL: take the next one)
)
# Values shared by the whole batch.
_SHARED = (
    "kind",
    "direction",
    "outcome",
    "state",
    "normal_priority",
    "notify_channel",
    "opened_event",
)
_statements: dict[tuple[tuple[str, ...], bool], str] = {}


def _sql_type(column: str) -> str:
    return str(Call.__table__.c[column].type.compile(dialect=postgresql.dialect()))


def batch_sql(columns: tuple[str, ...], gated: bool) -> str:
    """The statement for a batch of arrivals carrying ``columns`` (``POLICY`` names), built once.

    ``gated``: an arrival whose caller has triage history is not written; its history comes back
    (JSON) for the decision instead."""
    key = (columns, gated)
    statement = _statements.get(key)
    if statement is not None:
        return statement
    per_row = [*_PER_ROW, *((c, _sql_type(c)) for c in columns)]
    arrays = ", ".join(f"CAST(:r_{name} AS {kind}[])" for name, kind in per_row)
    names = ", ".join(name for name, _ in per_row)
    head = f"WITH a AS (SELECT * FROM unnest({arrays}) WITH ORDINALITY AS a({names}, n)), "  # noqa: S608

    if gated:
        history = triage.history_sql("a.number", "a.at", "a.since", "a.flag_since")
        found = f"(SELECT json_agg(x)::text FROM ({history}) x)"  # noqa: S608
    else:
        found = "NULL::text"
    merges = [merge_sql(c, ARRIVED, f"calls.{c}", f"EXCLUDED.{c}") for c in columns] + [
        outcome_sql("calls.outcome", "EXCLUDED.outcome"),
        "ticket_id = COALESCE(calls.ticket_id, EXCLUDED.ticket_id)",
    ]
    # Calls are written in uniqueid order: two batches written at once that share calls (a repeated
    # arrival) take their rows in the same order, so neither waits on the other in a circle.
    sql = (
        f"{head}go AS (SELECT a.*, {found} AS history FROM a), "  # noqa: S608
        # a scalar lookup by the unique uniqueid: an EXISTS here may be planned as a hash of
        # every call with a ticket, which grows with the table
        "ids AS (SELECT go.n, CASE WHEN go.history IS NULL AND (SELECT calls.ticket_id "
        "FROM calls WHERE calls.uniqueid = go.uniqueid) IS NULL "
        "THEN COALESCE(go.drawn, nextval(pg_get_serial_sequence('tickets', 'id'))) END AS tid "
        "FROM go), "
        "ev AS (INSERT INTO call_events (uniqueid, kind, at, data) "
        "SELECT go.uniqueid, :kind, go.at, CAST(go.event_data AS jsonb) FROM go "
        "WHERE go.history IS NULL ON CONFLICT (uniqueid, kind, at) DO NOTHING), "
        "c AS (INSERT INTO calls (uniqueid, direction, outcome, source, ticket_id, "
        f"{', '.join(columns)}) SELECT go.uniqueid, :direction, :outcome, go.source, ids.tid, "
        f"{', '.join('go.' + c for c in columns)} FROM go JOIN ids ON ids.n = go.n "
        "WHERE go.history IS NULL ORDER BY go.uniqueid "
        f"ON CONFLICT (uniqueid) DO UPDATE SET {', '.join(merges)} "
        "RETURNING id, uniqueid, ticket_id, caller_number, caller_number_raw, queue_priority), "
        "t AS (INSERT INTO tickets (id, state, priority, caller_number, caller_number_raw, "
        "triage_note, created_at, updated_at) "
        "SELECT c.ticket_id, :state, COALESCE(c.queue_priority, :normal_priority), "
        "c.caller_number, c.caller_number_raw, go.note, go.at, now() "
        "FROM c JOIN go ON go.uniqueid = c.uniqueid "
        "JOIN ids ON ids.n = go.n AND ids.tid = c.ticket_id "
        "ON CONFLICT (id) DO NOTHING RETURNING id, priority, caller_number) "
        "SELECT go.n, c.id, c.ticket_id, c.caller_number, c.caller_number_raw, "
        "t.id IS NOT NULL AS opened, "
        "CASE WHEN t.id IS NOT NULL THEN pg_notify(:notify_channel, jsonb_build_object("
        "'event', CAST(:opened_event AS text), 'data', jsonb_build_object("
        "'ticket_id', t.id, "
        f"'number', {ticket_number_sql('t.id')}, "
        "'uniqueid', go.uniqueid, 'caller_number', t.caller_number, "
        "'priority', t.priority))::text) END AS notified, go.history "
        "FROM go LEFT JOIN c ON c.uniqueid = go.uniqueid LEFT JOIN t ON t.id = c.ticket_id"
    )
    _statements[key] = sql
    return sql


def _batch_params(
    facts: Sequence[CallFact],
    numbers: Sequence[str | None],
    decisions: Sequence[triage.TriageDecision],
    settings: PolicySettings,
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The batch's columns and parameters: one array per per-row value, the shared ones once."""
    each = [decided_params(f, d) for f, d in zip(facts, decisions, strict=True)]
    columns = tuple(sorted({k for p in each for k in p if k in POLICY}))
    window = timedelta(hours=settings.window_hours)
    params: dict[str, Any] = {name: each[0][name] for name in _SHARED}
    params.update(triage.HISTORY_KINDS)
    params.update(
        r_number=list(numbers),
        r_since=[f.at - window for f in facts],
        r_flag_since=[f.at - triage.FLAG_LOOKBACK for f in facts],
        r_drawn=[f.drawn_ticket_id for f in facts],
    )
    for name in ("uniqueid", "at", "source", "event_data", "note", *columns):
        params[f"r_{name}"] = [p.get(name) for p in each]
    return columns, params


async def _write(
    db: Rows,
    facts: Sequence[CallFact],
    numbers: Sequence[str | None],
    decisions: Sequence[triage.TriageDecision],
    settings: PolicySettings,
    gated: bool,
) -> list[Mapping[Any, Any]]:
    columns, params = _batch_params(facts, numbers, decisions, settings)
    rows = await db.rows(batch_sql(columns, gated), params)
    by_n = {int(r["n"]): r for r in rows}
    return [by_n[i + 1] for i in range(len(facts))]


async def arrive_many(db: Rows, facts: Sequence[CallFact]) -> list[FactResult]:
    """The arrivals ``facts`` (distinct uniqueids) written in as few statements as they need:
    one when no caller has triage history. Results in the same order."""
    if not facts:
        return []
    if len({f.uniqueid for f in facts}) != len(facts):
        raise ValueError("a batch of arrivals holds one uniqueid twice")
    settings = triage.cached_settings()
    if settings is None:
        row = await db.row(triage.SETTINGS_SQL, {"id": triage.SETTINGS_ROW_ID})
        settings = triage.remember_settings(row["settings"] if row else None)
    numbers = [_number(f) for f in facts]
    decisions = [triage.NORMAL_DECISION] * len(facts)
    rows = await _write(db, facts, numbers, decisions, settings, gated=any(numbers))
    again = [i for i, r in enumerate(rows) if r["history"] is not None]
    if again:
        for i in again:
            number = numbers[i]
            assert number is not None  # only a caller with a number has history
            past, flags = triage.history_from(json.loads(rows[i]["history"]))
            decisions[i] = triage.decide_on(number, past, flags, facts[i].at, settings)
        written = await _write(
            db,
            [facts[i] for i in again],
            [numbers[i] for i in again],
            [decisions[i] for i in again],
            settings,
            gated=False,
        )
        for i, row in zip(again, written, strict=True):
            rows[i] = row
    results: list[FactResult] = []
    for fact, row, decision in zip(facts, rows, decisions, strict=True):
        if row["id"] is None:  # cannot happen: an arrival always writes its call
            raise RuntimeError(f"arrival of {fact.uniqueid} wrote no call")
        call_id, ticket_id, opened = int(row["id"]), row["ticket_id"], bool(row["opened"])
        if not opened and ticket_id is not None:
            await db.row(
                FILL_TICKET_CALLER,
                {
                    "ticket_id": ticket_id,
                    "caller_number": row["caller_number"],
                    "caller_number_raw": row["caller_number_raw"],
                },
            )
        results.append(FactResult(call_id, ticket_id, opened, decision))
    return results


def _number(fact: CallFact) -> str | None:
    caller = fact.data.get("caller_number")
    return normalise(caller) if caller else None
