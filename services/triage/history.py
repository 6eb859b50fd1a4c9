"""A caller number's recent calls, how they were classified, and its flags.

Shown on a ticket as it opens ("7 panggilan dalam 24 jam, 5 ditandai iseng") and served at
GET /callers/{number}/history. Flags are set and lifted here too (supervisors only, audited).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.names import CallDirection, Classification, FlagKind, FlagSource, ticket_number
from core.phone import normalise
from core.timeutil import utcnow
from models import CallerFlag
from services import audit
from services.triage import decide as triage
from services.triage.policy import FlagStatus, describe

MAX_WINDOW_HOURS = 24 * 90
RECENT_LIMIT = 20
UNCLASSIFIED = "unclassified"
MAX_FLAG_HOURS = 24 * 90


def number_or_error(raw: str) -> str:
    number = normalise(raw)
    if not number:
        raise ValidationFailed(
            "Nomor penelepon tidak valid / not a caller number",
            {"fields": [{"field": "number", "message": "not a phone number"}]},
        )
    return number


_CALLS = text(
    "SELECT c.id, c.uniqueid, c.ticket_id, c.arrived_at, c.outcome, c.triage, "
    "c.queue_priority, t.classification, t.classified_by "
    "FROM calls c LEFT JOIN tickets t ON t.id = c.ticket_id "
    "WHERE c.caller_number = :number AND c.arrived_at >= :since AND c.arrived_at <= :now "
    "AND c.direction = :inbound ORDER BY c.arrived_at DESC"
)


def summary_text(total: int, pranks: int, ghosts: int, hours: float, language: str = "id") -> str:
    if language == "en":
        return f"{total} calls in {hours:g} h, {pranks} marked prank, {ghosts} ghost"
    return f"{total} panggilan dalam {hours:g} jam, {pranks} ditandai iseng, {ghosts} kosong"


async def summary(
    session: AsyncSession,
    number: str,
    now: datetime | None = None,
    *,
    window_hours: float = 24.0,
    exclude_ticket: int | None = None,
) -> dict[str, Any]:
    """The number's calls over ``window_hours`` before ``now``, by classification, with its
    active flags and what the prank policy says about it now."""
    now = now or utcnow()
    number = normalise(number) or number
    if not 0 < window_hours <= MAX_WINDOW_HOURS:
        raise ValidationFailed(
            "Jendela waktu tidak valid / invalid window",
            {"fields": [{"field": "hours", "message": f"between 0 and {MAX_WINDOW_HOURS}"}]},
        )
    rows = [
        r
        for r in await session.execute(
            _CALLS,
            {
                "number": number,
                "since": now - timedelta(hours=window_hours),
                "now": now,
                "inbound": CallDirection.INBOUND.value,
            },
        )
        if exclude_ticket is None or r.ticket_id != exclude_ticket
    ]
    counts = Counter(str(r.classification or UNCLASSIFIED) for r in rows)
    verdict, settings = await triage.verdict_for(session, number, now)
    flags = await list_flags(session, number, now=now, active_only=True)
    total = len(rows)
    pranks, ghosts = counts.get(Classification.PRANK, 0), counts.get(Classification.GHOST, 0)
    active_flag = (
        {
            "source": verdict.source,
            "priority": verdict.priority,
            "warn": verdict.warn,
            "expires_at": verdict.expires_at,
            "reasons": describe(verdict, settings),
        }
        if verdict.flagged
        else None
    )
    return {
        "number": number,
        "window_hours": window_hours,
        "total": total,
        "by_classification": dict(counts),
        "text": summary_text(total, pranks, ghosts, window_hours),
        "text_id": summary_text(total, pranks, ghosts, window_hours),
        "active_flag": active_flag,  # what the caller's next call gets, None for a normal caller
        "text_en": summary_text(total, pranks, ghosts, window_hours, "en"),
        "calls": [
            {
                "call_id": r.id,
                "uniqueid": r.uniqueid,
                "ticket_id": r.ticket_id,
                "ticket_number": ticket_number(r.ticket_id) if r.ticket_id else None,
                "arrived_at": r.arrived_at,
                "outcome": r.outcome,
                "triage": r.triage,
                "queue_priority": r.queue_priority,
                "classification": r.classification,
                "classified_by": r.classified_by,
            }
            for r in rows[:RECENT_LIMIT]
        ],
        "flags": flags,
        "policy": {
            "flagged": verdict.flagged,
            "source": verdict.source,
            "score": verdict.score,
            "threshold": settings.threshold,
            "window_hours": settings.window_hours,
            "prank_calls": verdict.prank_calls,
            "ghost_calls": verdict.ghost_calls,
            "priority": verdict.priority,
            "warn": verdict.warn,
            "expires_at": verdict.expires_at,
            "cleared_at": verdict.cleared_at,
            "reasons": describe(verdict, settings),
        },
    }


def flag_fields(flag: CallerFlag, now: datetime) -> dict[str, Any]:
    return {
        "id": flag.id,
        "caller_number": flag.caller_number,
        "kind": flag.kind,
        "source": flag.source,
        "set_by": flag.set_by,
        "reason": flag.reason,
        "priority_penalty": flag.priority_penalty,
        "created_at": flag.created_at,
        "expires_at": flag.expires_at,
        "status": FlagStatus.of(flag.kind, flag.created_at, flag.expires_at, now).value,
    }


async def list_flags(
    session: AsyncSession,
    number: str | None = None,
    *,
    now: datetime | None = None,
    active_only: bool = False,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Flags, newest first; ``active_only``: hand-set prank flags still running and not lifted."""
    now = now or utcnow()
    stmt = select(CallerFlag).order_by(CallerFlag.created_at.desc(), CallerFlag.id.desc())
    if number:
        stmt = stmt.where(CallerFlag.caller_number == number)
    stmt = stmt.limit(max(1, min(limit, 500)))
    flags = list(await session.scalars(stmt))
    result = [flag_fields(f, now) for f in flags]
    if active_only:
        lifted: dict[str, datetime] = {}
        for f in flags:
            if f.kind == FlagKind.CLEARED and f.created_at <= now:
                previous = lifted.get(f.caller_number, f.created_at)
                lifted[f.caller_number] = max(previous, f.created_at)
        result = [
            d
            for d in result
            if d["status"] == FlagStatus.ACTIVE
            and (d["caller_number"] not in lifted or d["created_at"] > lifted[d["caller_number"]])
        ]
    return result


async def set_flag(
    session: AsyncSession,
    raw_number: str,
    *,
    actor: str,
    reason: str,
    hours: float | None = None,
    priority_penalty: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A supervisor flags a number as a prank caller by hand, for ``hours`` (audited)."""
    now = now or utcnow()
    number = number_or_error(raw_number)
    settings = await triage.load_settings(session)
    length = hours if hours is not None else settings.manual_flag_hours
    if not 0 < length <= MAX_FLAG_HOURS:
        raise ValidationFailed(
            "Lama tanda tidak valid / invalid flag length",
            {"fields": [{"field": "hours", "message": f"between 0 and {MAX_FLAG_HOURS}"}]},
        )
    flag = CallerFlag(
        caller_number=number,
        kind=FlagKind.PRANK.value,
        source=FlagSource.MANUAL.value,
        set_by=actor,
        reason=reason,
        priority_penalty=(
            priority_penalty if priority_penalty is not None else settings.priority_penalty
        ),
        created_at=now,
        expires_at=now + timedelta(hours=length),
    )
    session.add(flag)
    await session.flush()
    data = flag_fields(flag, now)
    await audit.record(
        session,
        actor=actor,
        action="caller_flag.set",
        entity="caller_flag",
        entity_id=number,
        after=_jsonable(data),
    )
    return data


async def lift(
    session: AsyncSession,
    raw_number: str,
    *,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Lift every flag on the number (hand-set or by policy), audited. The policy counts only calls
    after the lift from now on."""
    now = now or utcnow()
    number = number_or_error(raw_number)
    before = await list_flags(session, number, now=now, active_only=True)
    verdict, _ = await triage.verdict_for(session, number, now)
    flag = CallerFlag(
        caller_number=number,
        kind=FlagKind.CLEARED.value,
        source=FlagSource.MANUAL.value,
        set_by=actor,
        reason=reason,
        priority_penalty=0,
        created_at=now,
        expires_at=None,
    )
    session.add(flag)
    await session.flush()
    data = flag_fields(flag, now)
    await audit.record(
        session,
        actor=actor,
        action="caller_flag.lift",
        entity="caller_flag",
        entity_id=number,
        before={
            "active_flags": [_jsonable(f) for f in before],
            "policy_flagged": verdict.flagged,
            "policy_score": verdict.score,
        },
        after=_jsonable(data),
    )
    return data


_POLICY_FLAGGED = text(
    "WITH lifts AS (SELECT caller_number, max(created_at) AS cleared FROM caller_flags "
    "WHERE kind = :cleared AND created_at <= :now GROUP BY caller_number), "
    "s AS (SELECT t.caller_number, "
    "count(*) FILTER (WHERE t.classification = :prank) AS prank_calls, "
    "count(*) FILTER (WHERE t.classification = :ghost) AS ghost_calls, "
    "sum(CASE WHEN t.classification = :prank THEN CAST(:pw AS float8) "
    "ELSE CAST(:gw AS float8) END * power(0.5::float8, EXTRACT(EPOCH FROM "
    "(CAST(:now AS timestamptz) - t.created_at))::float8 / CAST(:hl AS float8))) "
    "AS score, max(t.created_at) AS last_call_at "
    "FROM tickets t LEFT JOIN lifts l ON l.caller_number = t.caller_number "
    "WHERE t.created_at > :since AND t.created_at <= :now AND t.caller_number IS NOT NULL "
    "AND t.classification IN (:prank, :ghost) AND (l.cleared IS NULL OR t.created_at > l.cleared) "
    "GROUP BY t.caller_number) "
    "SELECT * FROM s WHERE score >= CAST(:threshold AS float8) ORDER BY score DESC LIMIT :limit"
)


async def policy_flagged(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The numbers the prank policy flags at ``now`` (the same score as ``decide``, in SQL over
    the window), highest score first: for supervisors to review."""
    now = now or utcnow()
    settings = await triage.load_settings(session)
    if not settings.enabled:
        return []
    rows = await session.execute(
        _POLICY_FLAGGED,
        {
            "now": now,
            "since": now - timedelta(hours=settings.window_hours),
            "cleared": FlagKind.CLEARED.value,
            "prank": Classification.PRANK.value,
            "ghost": Classification.GHOST.value,
            "pw": settings.prank_weight,
            "gw": settings.ghost_weight,
            "hl": settings.half_life_hours * 3600.0,
            "threshold": settings.threshold,
            "limit": max(1, min(limit, 1000)),
        },
    )
    return [
        {
            "caller_number": r.caller_number,
            "score": round(float(r.score), 3),
            "prank_calls": int(r.prank_calls),
            "ghost_calls": int(r.ghost_calls),
            "last_call_at": r.last_call_at,
        }
        for r in rows
    ]


async def flag_audit(session: AsyncSession, number: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT id, at, actor, action, before, after FROM audit_log "
            "WHERE entity = 'caller_flag' AND entity_id = :n ORDER BY id DESC LIMIT 200"
        ),
        {"n": number},
    )
    return [dict(r._mapping) for r in rows]


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}
