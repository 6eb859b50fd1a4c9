"""Fixtures for the tickets and people API: the real app on the test PostgreSQL, real users with
real passwords for each role, tickets committed with unique data."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.app import create_app
from core.db import make_sessionmaker
from core.names import Role
from core.settings import AmiSettings, ApiSettings, Settings
from models import Agency, Ticket
from services.users import service as users

JWT_SECRET = secrets.token_urlsafe(32)
PASSWORD = "kata-sandi-uji-112"


@pytest.fixture(scope="session")
def api_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("asterisk-root")
    return Settings(
        database_url=database_url,
        api=ApiSettings(jwt_secret=SecretStr(JWT_SECRET)),
        ami=AmiSettings(secret=SecretStr(secrets.token_urlsafe(24))),
        asterisk={"root": root},  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def api_app(api_settings: Settings, engine: AsyncEngine) -> FastAPI:
    application = create_app(api_settings)
    application.state.engine = engine
    application.state.sessionmaker = make_sessionmaker(engine)
    return application


@dataclass
class People:
    admin: str
    supervisor: str
    calltaker: str
    agency: str
    agency_id: int
    other_agency_id: int


@pytest.fixture(scope="session")
async def people(engine: AsyncEngine) -> People:
    """One committed user per role (unique names), with PASSWORD."""
    tag = secrets.token_hex(4)
    async with make_sessionmaker(engine)() as s:
        agency = Agency(code=f"a{tag}", name="Damkar Uji", categories=[])
        other = Agency(code=f"b{tag}", name="BPBD Uji", categories=["DISASTER"])
        s.add_all([agency, other])
        await s.flush()
        names = {}
        for role in Role:
            name = f"{role.value}-{tag}"
            await users.create_user(
                s,
                actor="test",
                username=name,
                password=PASSWORD,
                role=role,
                sip_account="ct1" if role is Role.CALLTAKER else None,
                agency_id=agency.id if role is Role.AGENCY else None,
            )
            names[role] = name
        await s.commit()
    return People(
        admin=names[Role.ADMIN],
        supervisor=names[Role.SUPERVISOR],
        calltaker=names[Role.CALLTAKER],
        agency=names[Role.AGENCY],
        agency_id=agency.id,
        other_agency_id=other.id,
    )


Client = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client(api_app: FastAPI) -> AsyncIterator[Client]:
    """``await client("username")`` logs in through /auth/token; ``await client()`` is anonymous."""
    opened: list[httpx.AsyncClient] = []

    async def make(username: str | None = None) -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://api")
        opened.append(c)
        if username:
            r = await c.post("/auth/token", data={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return c

    yield make
    for c in opened:
        await c.aclose()


MakeTicket = Callable[..., Awaitable[Ticket]]


@pytest.fixture
def make_ticket(engine: AsyncEngine) -> MakeTicket:
    async def make(**kw: Any) -> Ticket:
        values: dict[str, Any] = {"state": "new", "priority": 5, "caller_number": "+628111"}
        values.update(kw)
        async with AsyncSession(engine, expire_on_commit=False) as s:
            ticket = Ticket(**values)
            s.add(ticket)
            await s.commit()
        return ticket

    return make
