"""What the gateway learns about a call, and how each piece merges with what is already known.

Every fact about a call (its arrival over FastAGI, each AMI event, the recording on disk) is a
``CallFact`` keyed by the caller channel's Asterisk unique id. Facts may come in any order and any
number of times (a spool replay, an Asterisk retry, two sessions racing), so each column has one
merge rule (``POLICY``): times never move backwards, a known value is never replaced by a missing
one, the outcome only moves forward. The rules are written here once: ``merged`` applies them in
Python, ``merge_sql`` and ``outcome_sql`` write the same rules as SQL for the statements of
``services.calls.write`` and ``services.calls.arrivals``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from core.names import CallEventKind, CallOutcome, ticket_number
from services.triage import decide as triage

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


def rule_for(name: str, kind: str) -> str:
    """The merge rule of column ``name`` for a fact of ``kind``: an abandon's queue position is the
    position the caller gave up at, so it overrides the position on joining."""
    if name == "queue_position" and kind == CallEventKind.ABANDONED:
        return LAST
    return POLICY[name]


def merged(name: str, kind: str, known: Any, new: Any) -> Any:
    """The value column ``name`` holds after a fact of ``kind`` brings ``new`` (None: no value)."""
    rule = rule_for(name, kind)
    if known is None or new is None:
        return new if known is None else known
    if rule == FIRST:
        return known
    if rule == LAST:
        return new
    return min(known, new) if rule == MIN else max(known, new)


def merge_sql(name: str, kind: str, known: str, new: str) -> str:
    """``merged`` as an SQL assignment: ``known`` and ``new`` are the SQL of the value the row
    holds and the value the fact brings (fixed names: ``calls.x`` and ``EXCLUDED.x``, or ``x`` and
    ``:x``). LEAST and GREATEST ignore NULLs, as ``merged`` does."""
    rule = rule_for(name, kind)
    if rule == FIRST:
        return f"{name} = COALESCE({known}, {new})"
    if rule == LAST:
        return f"{name} = COALESCE({new}, {known})"
    return f"{name} = {'LEAST' if rule == MIN else 'GREATEST'}({known}, {new})"


def merged_outcome(known: str, new: str) -> str:
    """The outcome after a fact implying ``new``: outcomes only move up ``OUTCOME_ORDER``."""
    order = [o.value for o in OUTCOME_ORDER]
    return new if order.index(new) > order.index(known) else known


def outcome_sql(known: str, new: str) -> str:
    """``merged_outcome`` as an SQL assignment (``known``/``new`` as for ``merge_sql``)."""
    return (
        f"outcome = CASE WHEN array_position({_ORDER_SQL}, CAST({new} AS text)) > "
        f"array_position({_ORDER_SQL}, {known}::text) THEN {new} ELSE {known} END"
    )


@dataclass(frozen=True, slots=True)
class CallFact:
    """One thing learned about one call; ``data`` holds column values (``POLICY``) and extras.

    ``drawn_ticket_id``: the ticket id the gateway answered the caller with before the arrival was
    written (``gateway.call_path.known_callers``); whichever fact opens the call's ticket opens it
    with that id."""

    kind: str  # a CallEventKind
    uniqueid: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    # False: only update a call already known (facts about channels that may not be 112 callers)
    may_create: bool = True
    drawn_ticket_id: int | None = None

    def with_drawn_ticket(self, ticket_id: int | None) -> CallFact:
        if ticket_id is None or not self.may_create or self.drawn_ticket_id is not None:
            return self
        return replace(self, drawn_ticket_id=ticket_id)

    def to_json(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "kind": str(self.kind),
            "uniqueid": self.uniqueid,
            "at": self.at.isoformat(),
            "data": self.data,
            "may_create": self.may_create,
        }
        if self.drawn_ticket_id is not None:
            raw["drawn_ticket_id"] = self.drawn_ticket_id
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CallFact:
        at = datetime.fromisoformat(str(raw["at"]))
        if at.tzinfo is None:
            raise ValueError("fact time without a time zone")
        data = dict(raw.get("data") or {})
        # spool files written before the field existed carry the id inside the data
        drawn = raw.get("drawn_ticket_id", data.pop(OLD_DRAWN_KEY, None))
        return cls(
            kind=CallEventKind(str(raw["kind"])).value,
            uniqueid=str(raw["uniqueid"])[:64],
            at=at,
            data=data,
            may_create=bool(raw.get("may_create", True)),
            drawn_ticket_id=None if drawn is None else int(drawn),
        )


# Where spool files of earlier versions kept the drawn ticket id (read, never written).
OLD_DRAWN_KEY = "drawn_ticket_id"


@dataclass(frozen=True, slots=True)
class FactResult:
    call_id: int | None = None
    ticket_id: int | None = None
    ticket_opened: bool = False  # this fact opened the call's ticket
    decision: triage.TriageDecision | None = None  # arrivals only

    @property
    def ticket_number(self) -> str | None:
        return ticket_number(self.ticket_id) if self.ticket_id is not None else None


def column_values(fact: CallFact) -> dict[str, Any]:
    """The call's columns ``fact`` brings (``POLICY`` names), cut to their limits."""
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
