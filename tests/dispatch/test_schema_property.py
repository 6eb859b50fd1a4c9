"""Property-based requests against the OpenAPI schema of the agencies, dispatch and agency-portal
endpoints, over real HTTP to the real API on real PostgreSQL: whatever comes in, never a 5xx."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from api.app import create_app
from core.names import Role
from core.settings import Settings
from models.migrate import upgrade
from tests.conftest import free_port
from tests.dispatch.conftest import token

MY_PATHS = (
    r"^/(agencies|agency/|dispatches/|deliveries/|tickets/\{ticket_id\}/(dispatches|suggested))"
)


def _schema() -> schemathesis.BaseSchema:
    spec = create_app(
        Settings(
            database_url="postgresql+asyncpg://unused/unused",
            api={"jwt_secret": "x" * 32},
            ami={"secret": "y" * 32},
        )
    ).openapi()
    return schemathesis.openapi.from_dict(spec).include(path_regex=MY_PATHS)


schema = _schema()
AGENCY: dict[str, Any] = {}


def _own_database(database_url: str) -> str:
    """A database of its own in the test cluster: fuzzed admin requests change agencies, which
    other tests must not see."""
    name = "siaga_schema_" + secrets.token_hex(4)

    async def create() -> None:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    url = database_url.rsplit("/", 1)[0] + "/" + name
    upgrade(url)

    async def agency() -> None:  # the agency the portal's requests act for
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            AGENCY["id"] = await conn.fetchval(
                "INSERT INTO agencies (code, name, categories, active) "
                "VALUES ('FUZZ', 'Fuzz', ARRAY['FIRE'], true) RETURNING id"
            )
        finally:
            await conn.close()

    asyncio.run(agency())
    AGENCY["url"] = url
    return url


@pytest.fixture(scope="module")
def api_url(settings: Settings, database_url: str) -> Iterator[str]:
    settings = settings.model_copy(update={"database_url": _own_database(database_url)})
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="dispatch-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case: schemathesis.Case, api_url: str) -> None:
    agency = case.path.startswith("/agency/")
    role, agency_id = (Role.AGENCY, AGENCY["id"]) if agency else (Role.ADMIN, None)
    response = case.call(
        base_url=api_url,
        headers={"Authorization": f"Bearer {token(role, agency_id=agency_id, url=AGENCY['url'])}"},
        timeout=10,
    )
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
