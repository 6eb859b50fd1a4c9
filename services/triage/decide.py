"""What happens to a caller before the queue: priority, silent-call check, warning.

``decide`` is called on the call path (inside the FastAGI bound) for every arriving call: one
indexed round trip (the number's prank/ghost tickets in the policy window and its recent flags, in
one ``UNION ALL``) plus, at most every ``SETTINGS_TTL_SECONDS``, the centre's policy row. A decision
never refuses service: a flagged caller is queued at a lower priority, after a warning.

The rules themselves are pure functions in ``services.triage.policy``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import Classification, FlagKind, TriageCode
from core.phone import normalise
from core.timeutil import utcnow
from models import TriageSettings
from services import audit
from services.triage.policy import (
    LONGEST_WINDOW_HOURS,
    LOW_PRIORITY,
    NORMAL_PRIORITY,
    Flag,
    PastCall,
    PolicyError,
    PolicySettings,
    Verdict,
    describe,
    evaluate,
)

__all__ = [
    "LOW_PRIORITY",
    "NORMAL_PRIORITY",
    "TriageDecision",
    "decide",
    "format_reasons",
    "load_settings",
    "save_settings",
]

log = logging.getLogger(__name__)

SETTINGS_ROW_ID = 1
SETTINGS_TTL_SECONDS = 10.0
# Flags older than this cannot matter: a flag set by hand lasts at most 90 days.
FLAG_LOOKBACK = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class TriageDecision:
    priority: int = NORMAL_PRIORITY
    silent_check: bool = True  # ask a silent caller to speak or press a key
    warn: bool = False  # play the repeat-prank warning before the queue
    code: str = TriageCode.NORMAL.value  # goes into the dialplan variable SIAGA_TRIAGE
    # recorded on the ticket (triage_note), in Bahasa Indonesia; empty for an ordinary caller
    reasons: list[str] = field(default_factory=list)
    flagged: bool = False
    source: str | None = None  # "policy" or "manual" when flagged
    score: float = 0.0
    expires_at: datetime | None = None  # when the flag ends (if no new prank call comes)
    reason_codes: list[str] = field(default_factory=list)  # machine-readable


NORMAL_DECISION = TriageDecision()

_cache: tuple[float, PolicySettings] | None = None


def _from_row(data: dict[str, Any] | None) -> PolicySettings:
    try:
        return PolicySettings.from_dict(data)
    except (PolicyError, TypeError):
        log.error("stored triage policy is invalid; using defaults")
        return PolicySettings()


SETTINGS_SQL = "SELECT settings FROM triage_settings WHERE id = :id"
_SETTINGS = text(SETTINGS_SQL)


def cached_settings() -> PolicySettings | None:
    """The cached policy while it is fresh, else None (the caller reads ``SETTINGS_SQL``)."""
    if _cache is not None and time.monotonic() - _cache[0] < SETTINGS_TTL_SECONDS:
        return _cache[1]
    return None


def remember_settings(data: dict[str, Any] | str | None) -> PolicySettings:
    """The policy from the stored row's value (a dict, or JSON text from a plain driver), cached."""
    global _cache
    settings = _from_row(json.loads(data) if isinstance(data, str) else data)
    _cache = (time.monotonic(), settings)
    return settings


async def load_settings(session: AsyncSession, *, fresh: bool = False) -> PolicySettings:
    """The centre's policy, from a process-wide cache refreshed every few seconds."""
    cached = None if fresh else cached_settings()
    if cached is not None:
        return cached
    return remember_settings(await session.scalar(_SETTINGS, {"id": SETTINGS_ROW_ID}))


def forget_cached_settings() -> None:
    global _cache
    _cache = None


async def save_settings(
    session: AsyncSession, changes: dict[str, Any], *, actor: str
) -> PolicySettings:
    """Change the policy (raises PolicyError on nonsense), audited; the caller commits."""
    row = await session.get(TriageSettings, SETTINGS_ROW_ID, with_for_update=True)
    current = _from_row(row.settings if row else None)
    updated = current.updated(changes)
    before, after = audit.changes(current.to_dict(), updated.to_dict())
    if row is None:
        row = TriageSettings(
            id=SETTINGS_ROW_ID, settings=updated.to_dict(), updated_by=actor, updated_at=utcnow()
        )
        session.add(row)
    else:
        row.settings = updated.to_dict()
        row.updated_by = actor
        row.updated_at = utcnow()
    if after:
        await audit.record(
            session,
            actor=actor,
            action="triage_policy.update",
            entity="triage_policy",
            entity_id=SETTINGS_ROW_ID,
            before=before,
            after=after,
        )
    forget_cached_settings()
    return updated


# The number's prank/ghost tickets in the window and its live flags, in one ``UNION ALL``;
# services.calls.arrivals folds it into the arrival statement (one round trip for a caller without
# history), there with the arriving rows' columns in place of the parameters.
# The window is written as a (caller_number, created_at) range so that only the index on that pair
# can serve it: a plan cached without the values (the call path's prepared statement) must not
# choose the created_at index, which would read every ticket of the window.
def history_sql(
    number: str = ":number",
    now: str = ":now",
    since: str = ":since",
    flag_since: str = ":flag_since",
) -> str:
    """``HISTORY_SQL`` with the given SQL expressions for the number, the arrival's time and the
    starts of the ticket and flag windows (``history_params`` gives them as parameters)."""
    return (
        "SELECT 'call' AS row, classification AS kind, NULL AS source, created_at AS at, "  # noqa: S608
        "NULL::timestamptz AS expires_at, NULL AS reason, NULL::int AS penalty, "
        "NULL::bigint AS id, NULL AS set_by "
        f"FROM tickets WHERE caller_number = {number} "
        f"AND (caller_number, created_at) >= ({number}, {since}) "
        f"AND (caller_number, created_at) <= ({number}, {now}) "
        "AND classification IN (:prank, :ghost) "
        "UNION ALL "
        "SELECT 'flag', kind, source, created_at, expires_at, reason, priority_penalty, id, set_by "
        f"FROM caller_flags WHERE caller_number = {number} AND created_at >= {flag_since} "
        f"AND created_at <= {now} AND (kind = :cleared OR expires_at IS NULL OR expires_at > {now})"
    )


# Every number that may have history for an arrival now, whatever the policy's window: prank and
# ghost tickets in the longest window a policy may set, flags in ``FLAG_LOOKBACK``.
HISTORY_NUMBERS_SQL = (
    "SELECT caller_number FROM tickets WHERE classification IN (:prank, :ghost) "
    "AND caller_number IS NOT NULL AND created_at >= :since "
    "UNION SELECT caller_number FROM caller_flags WHERE created_at >= :flag_since"
)
# Migration 0008's triggers NOTIFY here, with the caller number, whenever a commit gives a number
# history (a ticket classified prank or ghost, a flag set or lifted, a caller number edited).
HISTORY_CHANNEL = "siaga112_triage"


def history_numbers_params(now: datetime) -> dict[str, Any]:
    return {
        "since": now - timedelta(hours=LONGEST_WINDOW_HOURS),
        "flag_since": now - FLAG_LOOKBACK,
        **HISTORY_KINDS,
    }


HISTORY_SQL = history_sql()
_HISTORY = text(HISTORY_SQL)
# The parameters of ``history_sql`` that are the same for every caller.
HISTORY_KINDS = {
    "prank": Classification.PRANK.value,
    "ghost": Classification.GHOST.value,
    "cleared": FlagKind.CLEARED.value,
}


def history_params(number: str, now: datetime, settings: PolicySettings) -> dict[str, Any]:
    return {
        "number": number,
        "now": now,
        "since": now - timedelta(hours=settings.window_hours),
        "flag_since": now - FLAG_LOOKBACK,
        **HISTORY_KINDS,
    }


def _time(value: datetime | str | None) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def history_from(rows: Iterable[Mapping[Any, Any]]) -> tuple[list[PastCall], list[Flag]]:
    """``HISTORY_SQL``'s rows (as rows, or as the objects of its JSON aggregate) as the policy's
    past calls and flags."""
    calls: list[PastCall] = []
    flags: list[Flag] = []
    for r in rows:
        at = _time(r["at"])
        assert at is not None  # created_at is NOT NULL
        if r["row"] == "call":
            calls.append(PastCall(at=at, classification=r["kind"]))
        else:
            flags.append(
                Flag(
                    kind=r["kind"],
                    source=r["source"],
                    created_at=at,
                    expires_at=_time(r["expires_at"]),
                    reason=r["reason"],
                    set_by=r["set_by"],
                    priority_penalty=r["penalty"],
                    id=r["id"],
                )
            )
    return calls, flags


async def history_rows(
    session: AsyncSession, number: str, now: datetime, settings: PolicySettings
) -> tuple[list[PastCall], list[Flag]]:
    """The number's prank/ghost calls in the window and its recent flags: one round trip."""
    rows = await session.execute(_HISTORY, history_params(number, now, settings))
    return history_from(rows.mappings())


async def verdict_for(
    session: AsyncSession, number: str, now: datetime
) -> tuple[Verdict, PolicySettings]:
    settings = await load_settings(session)
    calls, flags = await history_rows(session, number, now, settings)
    return evaluate(calls, flags, now, settings), settings


def decision_from(verdict: Verdict, settings: PolicySettings) -> TriageDecision:
    if not verdict.flagged:
        return NORMAL_DECISION
    return TriageDecision(
        priority=verdict.priority,
        warn=verdict.warn,
        code=(TriageCode.WARN if verdict.warn else TriageCode.NORMAL).value,
        reasons=describe(verdict, settings),
        flagged=True,
        source=verdict.source,
        score=verdict.score,
        expires_at=verdict.expires_at,
        reason_codes=list(verdict.reasons),
    )


def decide_on(
    number: str,
    calls: list[PastCall],
    flags: list[Flag],
    now: datetime,
    settings: PolicySettings,
) -> TriageDecision:
    """The decision for ``number`` from its history (no database)."""
    decision = decision_from(evaluate(calls, flags, now, settings), settings)
    if decision.flagged:
        log.info(
            "caller %s flagged (%s, score %.2f): priority %d, warn %s",
            number,
            decision.source,
            decision.score,
            decision.priority,
            decision.warn,
        )
    return decision


async def decide(session: AsyncSession, caller_number: str | None, now: datetime) -> TriageDecision:
    """The decision for a caller arriving ``now``. Unknown callers get the normal decision."""
    number = normalise(caller_number) if caller_number else None
    if not number:
        return NORMAL_DECISION
    settings = await load_settings(session)
    calls, flags = await history_rows(session, number, now, settings)
    return decide_on(number, calls, flags, now, settings)


def format_reasons(decision: TriageDecision) -> str | None:
    """The text for the ticket's triage note (Bahasa Indonesia), or None for an ordinary call."""
    return "; ".join(decision.reasons) if decision.reasons else None
