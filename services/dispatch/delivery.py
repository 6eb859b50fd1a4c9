"""Webhook delivery bookkeeping: claiming due outbox messages, recording attempts, backoff, the
dead-letter list and redelivery. The HTTP side runs in ``gateway/delivery.py``.

Claims take ``SELECT ... FOR UPDATE SKIP LOCKED`` rows and give them a lease (``locked_until``):
while it lasts no other worker, in this process or another, claims the message. Each claim raises
``attempts``; a result is written only if ``attempts`` still matches (a fencing token), so a worker
whose lease ran out cannot overwrite a newer attempt's outcome.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.errors import Conflict, NotFound
from core.names import DeliveryState, StreamEvent, ticket_number
from core.settings import WebhookSettings
from core.timeutil import utcnow
from models import Agency, DeliveryAttempt, Dispatch, OutboxMessage
from services import audit, events

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "siaga112_outbox"  # the migration's trigger NOTIFYs here on every insert

_CLAIM = text(
    """
    WITH due AS (
        SELECT id FROM outbox
        WHERE state IN ('pending', 'delivering') AND next_attempt_at <= now()
          AND (locked_until IS NULL OR locked_until < now())
        ORDER BY next_attempt_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE outbox o
    SET state = 'delivering', attempts = o.attempts + 1,
        locked_until = now() + make_interval(secs => :lease)
    FROM due, agencies a
    WHERE o.id = due.id AND a.id = o.agency_id
    RETURNING o.id, o.message_id, o.agency_id, o.attempts, o.payload::text,
              coalesce(o.redelivered_at, o.created_at), a.code, a.webhook_url,
              a.active AND a.webhook_disabled_at IS NULL,
              ARRAY(SELECT s.secret FROM agency_secrets s
                    WHERE s.agency_id = o.agency_id
                      AND (s.expires_at IS NULL OR s.expires_at > now())
                    ORDER BY s.created_at DESC, s.id DESC)
    """
)
# outcomes are written a batch at a time: one statement for all attempts, one for all deliveries
_INSERT_ATTEMPTS = text(
    """
    INSERT INTO delivery_attempts
        (outbox_id, attempt, started_at, ended_at, status_code, error, response_body, worker)
    SELECT * FROM unnest(
        CAST(:outbox_ids AS bigint[]), CAST(:attempts AS integer[]),
        CAST(:started AS timestamptz[]), CAST(:ended AS timestamptz[]),
        CAST(:statuses AS integer[]), CAST(:errors AS text[]), CAST(:bodies AS text[]),
        CAST(:workers AS text[]))
    """
)
_DELIVERED = text(
    """
    UPDATE outbox o SET state = 'delivered', delivered_at = d.at, locked_until = NULL,
        last_error = NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS integer[]),
                CAST(:ats AS timestamptz[])) AS d(id, attempt, at)
    WHERE o.id = d.id AND o.attempts = d.attempt AND o.state = 'delivering'
    """
)
_RETRY = text(
    """
    UPDATE outbox SET state = 'pending', next_attempt_at = :next, locked_until = NULL,
        last_error = :error
    WHERE id = :id AND attempts = :attempt AND state = 'delivering'
    """
)
_DEAD = text(
    """
    UPDATE outbox o SET state = 'dead', dead_at = d.at, locked_until = NULL, last_error = d.error
    FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS integer[]),
                CAST(:ats AS timestamptz[]), CAST(:errors AS text[])) AS d(id, attempt, at, error)
    WHERE o.id = d.id AND o.attempts = d.attempt AND o.state = 'delivering'
    RETURNING o.message_id, o.dispatch_id
    """
)
_DISABLE = text(
    "UPDATE agencies SET webhook_disabled_at = :at WHERE id = :id AND webhook_disabled_at IS NULL "
    "RETURNING code"
)


class Result(StrEnum):
    DELIVERED = "delivered"  # 2xx
    FAILED = "failed"  # any other answer, a timeout or a network error: retry
    GONE = "gone"  # 410: disable the endpoint, stop
    UNDELIVERABLE = "undeliverable"  # no usable endpoint (disabled, inactive, refused): stop


@dataclass(slots=True)
class Claimed:
    id: int
    message_id: str
    agency_id: int
    agency_code: str
    attempt: int
    body: bytes
    window_start: datetime
    url: str | None
    usable: bool  # the agency is active and its endpoint enabled
    secrets: list[str] = field(default_factory=list)
    lease_deadline: float = 0.0  # monotonic time the lease runs out (set by the worker)


@dataclass(slots=True)
class Outcome:
    claimed: Claimed
    result: Result
    started_at: datetime
    ended_at: datetime
    worker: str
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None


async def claim(
    conn: AsyncConnection | AsyncSession, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Claim up to ``limit`` due messages, with what sending them needs (one statement: on an
    autocommit connection it commits by itself; otherwise the caller commits at once)."""
    rows = await conn.execute(_CLAIM, {"limit": limit, "lease": lease_seconds})
    return [
        Claimed(
            id=r[0],
            message_id=r[1],
            agency_id=r[2],
            attempt=r[3],
            body=r[4].encode(),
            window_start=r[5],
            agency_code=r[6],
            url=r[7],
            usable=bool(r[8]),
            secrets=list(r[9] or []),
        )
        for r in rows
    ]


def retry_delay(attempts_made: int, settings: WebhookSettings) -> float:
    """Seconds before the next try after ``attempts_made`` failed ones, with jitter."""
    delays = settings.retry_delays_seconds or [0.0]
    base = delays[min(max(attempts_made, 1), len(delays)) - 1]
    spread = base * settings.jitter
    return max(0.0, base + random.uniform(-spread, spread))


async def record(
    session: AsyncSession, outcomes: Sequence[Outcome], settings: WebhookSettings
) -> None:
    """Write the attempts and each message's next state (one transaction, the caller commits)."""
    if not outcomes:
        return
    await session.execute(
        _INSERT_ATTEMPTS,
        {
            "outbox_ids": [o.claimed.id for o in outcomes],
            "attempts": [o.claimed.attempt for o in outcomes],
            "started": [o.started_at for o in outcomes],
            "ended": [o.ended_at for o in outcomes],
            "statuses": [o.status_code for o in outcomes],
            "errors": [o.error for o in outcomes],
            "bodies": [o.response_body for o in outcomes],
            "workers": [o.worker for o in outcomes],
        },
    )
    delivered = [o for o in outcomes if o.result is Result.DELIVERED]
    if delivered:
        await session.execute(
            _DELIVERED,
            {
                "ids": [o.claimed.id for o in delivered],
                "attempts": [o.claimed.attempt for o in delivered],
                "ats": [o.ended_at for o in delivered],
            },
        )
    retry, dead = [], []
    max_age = timedelta(hours=settings.max_age_hours)
    for o in outcomes:
        if o.result is Result.DELIVERED:
            continue
        key = {"id": o.claimed.id, "attempt": o.claimed.attempt}
        error = o.error or f"HTTP {o.status_code}"
        if o.result is Result.FAILED:
            nxt = o.ended_at + timedelta(seconds=retry_delay(o.claimed.attempt, settings))
            if nxt <= o.claimed.window_start + max_age:
                retry.append({**key, "next": nxt, "error": error})
                continue
            error = f"gave up after {o.claimed.attempt} attempts: {error}"
        dead.append({**key, "at": o.ended_at, "error": error})
        if o.result is Result.GONE:
            await _disable_endpoint(session, o.claimed.agency_id, o.ended_at)
        log.warning("webhook %s to %s dead: %s", o.claimed.message_id, o.claimed.agency_code, error)
    if retry:
        await session.execute(_RETRY, retry)
    if dead:
        gone = (
            await session.execute(
                _DEAD,
                {
                    "ids": [d["id"] for d in dead],
                    "attempts": [d["attempt"] for d in dead],
                    "ats": [d["at"] for d in dead],
                    "errors": [d["error"] for d in dead],
                },
            )
        ).all()
        if gone:  # the supervisor's dashboard lists them at once
            await _announce(session, DeliveryState.DEAD, [(m, d) for m, d in gone])


async def _announce(
    session: AsyncSession, state: DeliveryState, messages: Sequence[tuple[str, int | None]]
) -> None:
    """Publish that ``messages`` (message id, dispatch id) went to ``state`` (same transaction)."""
    await events.publish(
        session,
        StreamEvent.DELIVERY_UPDATED,
        {
            "state": state.value,
            "message_ids": [m for m, _ in messages],
            "dispatch_ids": sorted({d for _, d in messages if d is not None}),
        },
    )


async def _disable_endpoint(session: AsyncSession, agency_id: int, at: datetime) -> None:
    code = (await session.execute(_DISABLE, {"id": agency_id, "at": at})).scalar()
    if code is not None:
        await audit.record(
            session,
            actor="system",
            action="agency.webhook_disabled",
            entity="agency",
            entity_id=code,
            after={"reason": "endpoint answered 410 Gone", "at": at.isoformat()},
        )
        log.warning("agency %s webhook endpoint disabled: it answered 410", code)


def message_view(m: OutboxMessage, agency_code: str) -> dict[str, Any]:
    return {
        "message_id": m.message_id,
        "agency": agency_code,
        "dispatch_id": m.dispatch_id,
        "event_type": m.event_type,
        "state": m.state,
        "attempts": m.attempts,
        "created_at": m.created_at,
        "next_attempt_at": m.next_attempt_at,
        "delivered_at": m.delivered_at,
        "dead_at": m.dead_at,
        "last_error": m.last_error,
    }


async def dead_letters(
    session: AsyncSession, *, before_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Dead messages, newest first, each with its agency's name and its ticket (none for a
    ping); keyset pagination on the outbox id."""
    query = (
        select(OutboxMessage, Agency.code, Agency.name, Dispatch.ticket_id)
        .join(Agency, Agency.id == OutboxMessage.agency_id)
        .outerjoin(Dispatch, Dispatch.id == OutboxMessage.dispatch_id)
        .where(OutboxMessage.state == DeliveryState.DEAD.value)
        .order_by(OutboxMessage.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        query = query.where(OutboxMessage.id < before_id)
    rows = list((await session.execute(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = rows[-1][0].id if more and rows else None
    return [
        {
            **message_view(m, code),
            "agency_name": name,
            "ticket_id": ticket_id,
            "ticket_number": None if ticket_id is None else ticket_number(ticket_id),
        }
        for m, code, name, ticket_id in rows
    ], cursor


async def redeliver(session: AsyncSession, message_id: str, *, actor: str) -> OutboxMessage:
    """Put a dead message back in line (a fresh retry window); audited."""
    message = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.message_id == message_id).with_for_update()
    )
    if message is None:
        raise NotFound("Pesan tidak ditemukan / message not found", {"message_id": message_id})
    if message.state != DeliveryState.DEAD.value:
        raise Conflict(
            "Hanya pesan gagal yang bisa dikirim ulang / only dead messages can be redelivered",
            {"message_id": message_id, "state": message.state},
        )
    agency = await session.get_one(Agency, message.agency_id)
    if agency.webhook_disabled_at is not None or not agency.webhook_url or not agency.active:
        raise EndpointDisabled(
            "Endpoint webhook instansi nonaktif; aktifkan dulu / the agency's webhook endpoint "
            "is disabled: enable it first",
            {"agency": agency.code},
        )
    now = utcnow()
    message.state = DeliveryState.PENDING.value
    message.next_attempt_at = now
    message.redelivered_at = now
    message.dead_at = None
    message.locked_until = None
    await audit.record(
        session,
        actor=actor,
        action="delivery.redelivered",
        entity="outbox",
        entity_id=message.message_id,
        after={"agency": agency.code, "attempts": message.attempts},
    )
    await session.execute(text("SELECT pg_notify(:c, '')"), {"c": OUTBOX_CHANNEL})
    await _announce(session, DeliveryState.PENDING, [(message.message_id, message.dispatch_id)])
    await session.flush()
    return message


class EndpointDisabled(Conflict):
    error_id = "webhook-endpoint-disabled"


async def delivery_log(session: AsyncSession, dispatch_id: int) -> list[dict[str, Any]]:
    """A dispatch's messages, each with every attempt."""
    if await session.get(Dispatch, dispatch_id) is None:
        raise NotFound(
            "Penugasan tidak ditemukan / dispatch not found", {"dispatch_id": dispatch_id}
        )
    rows = list(
        (
            await session.execute(
                select(OutboxMessage, Agency.code)
                .join(Agency, Agency.id == OutboxMessage.agency_id)
                .where(OutboxMessage.dispatch_id == dispatch_id)
                .order_by(OutboxMessage.id)
            )
        ).all()
    )
    attempts = list(
        await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.outbox_id.in_([m.id for m, _ in rows]))
            .order_by(DeliveryAttempt.outbox_id, DeliveryAttempt.attempt, DeliveryAttempt.id)
        )
    )
    result = []
    for m, code in rows:
        view = message_view(m, code)
        view["attempts_log"] = [
            {
                "attempt": a.attempt,
                "started_at": a.started_at,
                "ended_at": a.ended_at,
                "status_code": a.status_code,
                "error": a.error,
                "response_body": a.response_body,
                "worker": a.worker,
            }
            for a in attempts
            if a.outbox_id == m.id
        ]
        result.append(view)
    return result


async def delivery_states(session: AsyncSession, dispatch_ids: Sequence[int]) -> dict[int, str]:
    """The state of each dispatch's latest message (what the console shows beside it)."""
    if not dispatch_ids:
        return {}
    latest = (
        select(func.max(OutboxMessage.id))
        .where(OutboxMessage.dispatch_id.in_(list(dispatch_ids)))
        .group_by(OutboxMessage.dispatch_id)
    )
    rows = await session.execute(
        select(OutboxMessage.dispatch_id, OutboxMessage.state).where(OutboxMessage.id.in_(latest))
    )
    return {d: s for d, s in rows.all() if d is not None}


async def backlog(session: AsyncSession) -> dict[str, Any]:
    """For readiness checks: messages waiting, dead, and the oldest waiting one's age."""
    row = (
        await session.execute(
            text(
                "SELECT count(*) FILTER (WHERE state IN ('pending', 'delivering')), "
                "count(*) FILTER (WHERE state = 'dead'), "
                "extract(epoch FROM now() - min(created_at) "
                "FILTER (WHERE state IN ('pending', 'delivering'))) FROM outbox"
            )
        )
    ).one()
    return {"pending": row[0], "dead": row[1], "oldest_pending_seconds": row[2]}
