"""Browser fixtures: the real API on a loopback port (uvicorn, real PostgreSQL), Debian's headless
Chromium driven by Playwright, and the people who use the consoles.

Chromium never reaches beyond loopback: the map's tile server is a closed loopback port, so the map
must still show its markers on a plain background.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.app import create_app
from core.names import Role
from core.settings import AmiSettings, ApiSettings, Settings, UiSettings
from models import Agency, User
from services.dispatch import agencies
from services.users.auth import hash_password
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "kata-sandi-uji-112"


def ui_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        api=ApiSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        ami=AmiSettings(secret=SecretStr(secrets.token_urlsafe(24))),
        # a loopback port nobody listens on: the map has no tile server, as on an offline network
        ui=UiSettings(tile_url=f"http://127.0.0.1:{free_port()}/{{z}}/{{x}}/{{y}}.png"),
        **overrides,
    )


class ApiServer:
    """create_app(settings) served by uvicorn in a thread of its own, on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ui-api", daemon=True)

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.started:
                return
            if not self.thread.is_alive():
                raise RuntimeError("the API server stopped while starting")
            time.sleep(0.05)
        raise RuntimeError(f"the API did not start within {timeout} s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def api_server(database_url: str) -> Iterator[ApiServer]:
    server = ApiServer(ui_settings(database_url))
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True, slots=True)
class Person:
    username: str
    password: str
    role: Role
    sip_account: str | None = None
    agency_id: int | None = None
    agency_code: str | None = None


async def ensure_agencies(engine: AsyncEngine) -> dict[str, int]:
    """The regency's agencies (as the agencies service seeds them), with their ids by code."""
    async with AsyncSession(engine) as session:
        await agencies.seed(session)
        await session.commit()
        rows = await session.execute(select(Agency.code, Agency.id))
        return {code: agency_id for code, agency_id in rows.all()}


async def make_person(
    engine: AsyncEngine,
    role: Role,
    *,
    sip_account: str | None = None,
    agency_code: str | None = None,
) -> Person:
    """A user of its own for this test, committed so the API server sees it."""
    agency_id = None
    if agency_code:
        agency_id = (await ensure_agencies(engine))[agency_code]
    username = f"{role.value}-{secrets.token_hex(3)}"
    async with AsyncSession(engine) as session:
        session.add(
            User(
                username=username,
                full_name=username.title(),
                role=role.value,
                password_hash=hash_password(PASSWORD),
                sip_account=sip_account,
                agency_id=agency_id,
                language="id",
                active=True,
            )
        )
        await session.commit()
    return Person(username, PASSWORD, role, sip_account, agency_id, agency_code)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def new_page(browser: Any, api_server: ApiServer) -> AsyncIterator[Any]:
    """Opens pages in fresh browser contexts (one per person), closed after the test."""
    contexts: list[Any] = []

    async def _open(
        *, width: int = 1600, height: int = 900, mobile: bool = False, **options: Any
    ) -> Any:
        context = await browser.new_context(
            viewport={"width": width, "height": height},
            base_url=api_server.url,
            locale="id-ID",
            timezone_id="Asia/Jakarta",
            is_mobile=mobile,
            has_touch=mobile,
            **options,
        )
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield _open
    for context in contexts:
        await context.close()


async def login(page: Any, person: Person, view: str) -> None:
    await page.goto(f"/ui/{view}")
    await page.fill("#username", person.username)
    await page.fill("#password", person.password)
    await page.click("button[type=submit]")


async def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


def api_client(server: ApiServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=10)


async def token_for(server: ApiServer, person: Person) -> str:
    async with api_client(server) as client:
        response = await client.post(
            "/auth/token", data={"username": person.username, "password": person.password}
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


async def eventually(check: Any, timeout: float = 10.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")


def chromium_available() -> bool:
    return CHROMIUM.exists() or shutil.which("chromium") is not None
