"""What is up and what is down, for ``/health/ready``: the database (answering at all), each
gateway (its heartbeat: AMI link, local spool, AGI sessions in flight) and webhook delivery (how
many messages wait and for how long). Also the gateway's heartbeat write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import DeliveryState
from core.timeutil import utcnow

# A gateway whose heartbeat is older than this is counted as down.
STALE_SECONDS = 30.0
# Webhook messages waiting longer than this make delivery "degraded".
DELIVERY_LAG_SECONDS = 300.0

_BEAT = text(
    "INSERT INTO gateway_heartbeats (name, ami_connected, spool_pending, agi_in_flight, "
    "calltakers_paused, started_at, updated_at) "
    "VALUES (:name, :ami, :spool, :agi, :paused, :started, now()) "
    "ON CONFLICT (name) DO UPDATE SET ami_connected = EXCLUDED.ami_connected, "
    "spool_pending = EXCLUDED.spool_pending, agi_in_flight = EXCLUDED.agi_in_flight, "
    "calltakers_paused = EXCLUDED.calltakers_paused, "
    "started_at = EXCLUDED.started_at, updated_at = now()"
)
_FORGET_OLD = text("DELETE FROM gateway_heartbeats WHERE updated_at < now() - interval '1 day'")
_GATEWAYS = text(
    "SELECT name, ami_connected, spool_pending, agi_in_flight, started_at, updated_at, "
    "extract(epoch FROM now() - updated_at) AS age FROM gateway_heartbeats "
    "WHERE updated_at > now() - interval '1 hour' ORDER BY updated_at DESC"
)
_BACKLOG = text(
    "SELECT count(*) AS waiting, extract(epoch FROM now() - min(created_at)) AS oldest "
    "FROM outbox WHERE state IN (:pending, :delivering)"
)


async def beat(
    session: AsyncSession,
    name: str,
    *,
    ami_connected: bool,
    spool_pending: int,
    agi_in_flight: int,
    started_at: datetime,
    calltakers_paused: int = 0,
) -> None:
    await session.execute(
        _BEAT,
        {
            "name": name[:128],
            "ami": ami_connected,
            "spool": spool_pending,
            "agi": agi_in_flight,
            "paused": calltakers_paused,
            "started": started_at,
        },
    )
    await session.execute(_FORGET_OLD)


async def readiness(session: AsyncSession) -> dict[str, Any]:
    """The picture: ``status`` is "ok", or "degraded" with ``problems`` naming what is down."""
    problems: list[str] = []
    gateways = []
    for row in (await session.execute(_GATEWAYS)).all():
        alive = float(row.age) <= STALE_SECONDS
        gateways.append(
            {
                "name": row.name,
                "alive": alive,
                "heartbeat_age_seconds": round(float(row.age), 1),
                "ami": "connected" if row.ami_connected else "disconnected",
                "spool_pending": row.spool_pending,
                "agi_in_flight": row.agi_in_flight,
                "started_at": row.started_at.isoformat(),
            }
        )
    live = [g for g in gateways if g["alive"]]
    if not live:
        problems.append("gateway-down")
    elif not any(g["ami"] == "connected" for g in live):
        problems.append("ami-disconnected")
    if any(g["spool_pending"] for g in live):
        problems.append("spool-backlog")
    backlog = (
        await session.execute(
            _BACKLOG,
            {"pending": DeliveryState.PENDING.value, "delivering": DeliveryState.DELIVERING.value},
        )
    ).one()
    oldest = float(backlog.oldest) if backlog.oldest is not None else 0.0
    if oldest > DELIVERY_LAG_SECONDS:
        problems.append("delivery-backlog")
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "checked_at": utcnow().isoformat(),
        "database": "up",
        "gateways": gateways,
        "delivery": {"waiting": int(backlog.waiting), "oldest_seconds": round(oldest, 1)},
    }


_PAUSED = text(
    "SELECT coalesce(max(calltakers_paused), 0) FROM gateway_heartbeats "
    "WHERE updated_at > now() - make_interval(secs => :stale)"
)


async def calltakers_paused(session: AsyncSession) -> int:
    """Call takers paused in the queue, as a live gateway last reported (0 with no gateway)."""
    return int((await session.execute(_PAUSED, {"stale": STALE_SECONDS})).scalar_one())
