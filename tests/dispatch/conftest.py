"""Fixtures for the agencies, dispatch and delivery tests: the real API over ASGI on the test
PostgreSQL, tokens for each role, agencies and tickets committed with unique codes, loopback
receivers and delivery workers running in the test's loop."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.app import create_app
from core.db import make_sessionmaker
from core.names import Role
from core.settings import AmiSettings, ApiSettings, Settings, WebhookSettings
from core.timeutil import utcnow
from gateway.delivery import DeliveryWorker
from models import Agency, AgencySecret, Ticket
from services.dispatch.signing import new_secret
from services.users.auth import issue_token
from tests.conftest import user_principal
from tests.dispatch.receiver import Receiver

JWT_SECRET = secrets.token_urlsafe(32)


def fast_webhooks(**overrides: Any) -> WebhookSettings:
    """Delivery settings for tests: loopback allowed, retries in fractions of a second."""
    values: dict[str, Any] = {
        "allowlist": ["127.0.0.1"],
        "timeout_seconds": 2.0,
        "retry_delays_seconds": [0.0, 0.2, 0.4],
        "jitter": 0.1,
        "poll_seconds": 0.1,
        "batch_size": 50,
        "concurrency": 20,
    }
    values.update(overrides)
    return WebhookSettings(**values)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        api=ApiSettings(jwt_secret=SecretStr(JWT_SECRET)),
        ami=AmiSettings(secret=SecretStr(secrets.token_urlsafe(24))),
        webhooks=fast_webhooks(),
    )


@pytest.fixture(scope="session")
def app(settings: Settings, engine: AsyncEngine) -> FastAPI:
    application = create_app(settings)
    application.state.engine = engine  # ASGI transport runs no lifespan: share the test engine
    application.state.sessionmaker = make_sessionmaker(engine)
    return application


_DATABASE: dict[str, str] = {}
_TOKENS: dict[tuple[str, Role, str, int | None], str] = {}


@pytest.fixture(scope="session", autouse=True)
def _users_database(database_url: str) -> None:
    _DATABASE["url"] = database_url


def token(
    role: Role, username: str | None = None, agency_id: int | None = None, url: str | None = None
) -> str:
    """A token of a user of ``role`` (made in the test database, or ``url``'s, on first use)."""
    url = url or _DATABASE["url"]
    username = username or f"{role.value}-{agency_id or 0}"
    key = (url, role, username, agency_id)
    if key not in _TOKENS:
        _TOKENS[key] = issue_token(user_principal(url, role, username, agency_id), JWT_SECRET, 60)
    return _TOKENS[key]


Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[Client]:
    """``client(Role.CALLTAKER)`` / ``client(Role.AGENCY, agency_id=...)``: an API client."""
    opened: list[httpx.AsyncClient] = []

    def make(role: Role | None = None, **kw: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token(role, **kw)}"} if role else {}
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers
        )
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> Callable[[], AsyncSession]:
    return make_sessionmaker(engine)


MakeAgency = Callable[..., Awaitable[Agency]]


@pytest.fixture
async def make_agency(sessions: Callable[[], AsyncSession]) -> AsyncIterator[MakeAgency]:
    """Commit an agency with a unique code (and a signing secret); deactivated after the test so
    no later test's worker sends its leftovers."""
    made: list[tuple[int, str]] = []

    async def make(
        categories: tuple[str, ...] = ("FIRE",), webhook_url: str | None = None, **kw: Any
    ) -> Agency:
        code = "t" + secrets.token_hex(6)
        async with sessions() as s:
            agency = Agency(
                code=code,
                name=f"Instansi {code}",
                categories=list(categories),
                webhook_url=webhook_url,
                **{"active": True, **kw},
            )
            s.add(agency)
            await s.flush()
            secret = new_secret()
            s.add(AgencySecret(agency_id=agency.id, secret=secret, created_at=utcnow()))
            await s.commit()
        agency.__dict__["test_secret"] = secret
        made.append((agency.id, code))
        return agency

    yield make
    if made:
        async with sessions() as s:
            await s.execute(
                update(Agency).where(Agency.id.in_([i for i, _ in made])).values(active=False)
            )
            await s.commit()


def secret_of(agency: Agency) -> str:
    return str(agency.__dict__["test_secret"])


MakeTicket = Callable[..., Awaitable[Ticket]]


@pytest.fixture
def make_ticket(sessions: Callable[[], AsyncSession]) -> MakeTicket:
    async def make(**kw: Any) -> Ticket:
        values: dict[str, Any] = {
            "state": "in_progress",
            "classification": None,
            "category": "FIRE",
            "priority": 5,
            "caller_number": "+6281234567890",
            "reporter_name": "Budi Santoso",
            "callback_number": "+6281299990000",
            "location_text": "Pasar Kayuagung, dekat masjid",
            "kecamatan": "Kayuagung",
            "desa": "Sukadana",
            "latitude": -3.3946,
            "longitude": 104.8322,
            "victims": "count",
            "victims_count": 2,
            "access_route": "Jalan Lintas Timur, belok kiri di SPBU",
            "description": "Rumah terbakar, api besar",
        }
        values.update(kw)
        async with sessions() as s:
            ticket = Ticket(**values)
            s.add(ticket)
            await s.commit()
        return ticket

    return make


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@asynccontextmanager
async def running_workers(
    engine: AsyncEngine, webhooks: WebhookSettings, count: int = 1
) -> AsyncIterator[list[DeliveryWorker]]:
    """``count`` delivery workers running in this loop until the block ends."""
    stopping = asyncio.Event()
    sessionmaker = make_sessionmaker(engine)
    workers = [
        DeliveryWorker(engine, sessionmaker, webhooks, name=f"test-worker-{i}")
        for i in range(count)
    ]
    tasks = [asyncio.create_task(w.run(stopping)) for w in workers]
    try:
        yield workers
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
