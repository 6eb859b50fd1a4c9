"""What happens to a caller before the queue: priority, silent-call check, warning.

``decide`` is called on the call path (inside the FastAGI bound) for every arriving call: one
indexed round trip (the number's prank/ghost tickets in the policy window and its recent flags, in
one ``UNION ALL``) plus, at most every ``SETTINGS_TTL_SECONDS``, the centre's policy row. A decision
never refuses service: a flagged caller is queued at a lower priority, after a warning.

The rules themselves are pure functions in ``services.prank_policy``.
"""

from __future__ import annotations

import logging
import time
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
from services.prank_policy import (
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


async def load_settings(session: AsyncSession, *, fresh: bool = False) -> PolicySettings:
    """The centre's policy, from a process-wide cache refreshed every few seconds."""
    global _cache
    now = time.monotonic()
    if not fresh and _cache is not None and now - _cache[0] < SETTINGS_TTL_SECONDS:
        return _cache[1]
    data = await session.scalar(
        text("SELECT settings FROM triage_settings WHERE id = :id"), {"id": SETTINGS_ROW_ID}
    )
    settings = _from_row(data)
    _cache = (now, settings)
    return settings


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


_HISTORY = text(
    "SELECT 'call' AS row, classification AS kind, NULL AS source, created_at AS at, "
    "NULL::timestamptz AS expires_at, NULL AS reason, NULL::int AS penalty, NULL::bigint AS id, "
    "NULL AS set_by "
    "FROM tickets WHERE caller_number = :number AND created_at >= :since "
    "AND created_at <= :now AND classification IN (:prank, :ghost) "
    "UNION ALL "
    "SELECT 'flag', kind, source, created_at, expires_at, reason, priority_penalty, id, set_by "
    "FROM caller_flags WHERE caller_number = :number AND created_at >= :flag_since "
    "AND created_at <= :now AND (kind = :cleared OR expires_at IS NULL OR expires_at > :now)"
)


async def history_rows(
    session: AsyncSession, number: str, now: datetime, settings: PolicySettings
) -> tuple[list[PastCall], list[Flag]]:
    """The number's prank/ghost calls in the window and its recent flags: one round trip."""
    rows = await session.execute(
        _HISTORY,
        {
            "number": number,
            "now": now,
            "since": now - timedelta(hours=settings.window_hours),
            "flag_since": now - FLAG_LOOKBACK,
            "prank": Classification.PRANK.value,
            "ghost": Classification.GHOST.value,
            "cleared": FlagKind.CLEARED.value,
        },
    )
    calls: list[PastCall] = []
    flags: list[Flag] = []
    for r in rows:
        if r.row == "call":
            calls.append(PastCall(at=r.at, classification=r.kind))
        else:
            flags.append(
                Flag(
                    kind=r.kind,
                    source=r.source,
                    created_at=r.at,
                    expires_at=r.expires_at,
                    reason=r.reason,
                    set_by=r.set_by,
                    priority_penalty=r.penalty,
                    id=r.id,
                )
            )
    return calls, flags


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


async def decide(session: AsyncSession, caller_number: str | None, now: datetime) -> TriageDecision:
    """The decision for a caller arriving ``now``. Unknown callers get the normal decision."""
    number = normalise(caller_number) if caller_number else None
    if not number:
        return NORMAL_DECISION
    verdict, settings = await verdict_for(session, number, now)
    decision = decision_from(verdict, settings)
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


def format_reasons(decision: TriageDecision) -> str | None:
    """The text for the ticket's triage note (Bahasa Indonesia), or None for an ordinary call."""
    return "; ".join(decision.reasons) if decision.reasons else None
