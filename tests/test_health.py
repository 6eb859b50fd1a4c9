"""Readiness says what is down (services/health.py): gateway heartbeat, AMI, spool, delivery."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.app import create_app
from core.settings import AmiSettings, ApiSettings, Settings
from core.timeutil import utcnow
from services import health


async def test_no_gateway_heartbeat_means_gateway_down(session: AsyncSession) -> None:
    await session.execute(text("DELETE FROM gateway_heartbeats"))

    state = await health.readiness(session)

    assert state["status"] == "degraded" and "gateway-down" in state["problems"]
    assert state["database"] == "up"


async def test_a_gateway_without_ami_and_with_a_spool_backlog_is_named(
    session: AsyncSession,
) -> None:
    await session.execute(text("DELETE FROM gateway_heartbeats"))
    await health.beat(
        session, "gw:1", ami_connected=False, spool_pending=12, agi_in_flight=3,
        started_at=utcnow() - timedelta(minutes=5),
    )  # fmt: skip

    state = await health.readiness(session)

    assert state["problems"] == ["ami-disconnected", "spool-backlog"]
    [gateway] = state["gateways"]
    assert gateway["name"] == "gw:1" and gateway["alive"] and gateway["spool_pending"] == 12
    assert gateway["agi_in_flight"] == 3 and gateway["ami"] == "disconnected"


async def test_a_healthy_gateway_is_ok_and_a_stale_one_is_down(session: AsyncSession) -> None:
    await session.execute(text("DELETE FROM gateway_heartbeats"))
    await health.beat(
        session, "gw:2", ami_connected=True, spool_pending=0, agi_in_flight=0, started_at=utcnow()
    )
    # outbox rows waiting from other tests could make delivery late: only the gateway is judged
    state = await health.readiness(session)
    assert "gateway-down" not in state["problems"] and "ami-disconnected" not in state["problems"]

    await session.execute(
        text("UPDATE gateway_heartbeats SET updated_at = now() - interval '2 minutes'")
    )
    state = await health.readiness(session)
    assert "gateway-down" in state["problems"] and not state["gateways"][0]["alive"]


async def test_ready_endpoint_names_what_is_down_without_authentication(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = Settings(
        database_url=database_url,
        api=ApiSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        ami=AmiSettings(secret=SecretStr(secrets.token_urlsafe(24))),
    )
    app = create_app(settings)
    app.state.engine = engine
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "up" and body["status"] in {"ok", "degraded"}
    assert set(body) >= {"problems", "gateways", "delivery"}
    assert {"waiting", "oldest_seconds"} <= set(body["delivery"])
