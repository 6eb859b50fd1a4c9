"""A property-based run against the OpenAPI schema: whatever a client sends, the API answers with
a 2xx or a JSON error, never a 5xx. Runs each operation as an admin (who passes every role check,
so every handler sees the input) and as an agency user."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from core.db import make_sessionmaker
from core.names import Role
from core.settings import AmiSettings, ApiSettings, Settings
from models import Agency, User
from services.users.auth import Principal, hash_password, issue_token

JWT_SECRET = secrets.token_urlsafe(32)
TOKENS: dict[str, str] = {}


async def _principals(database_url: str) -> dict[str, Principal]:
    engine = create_async_engine(database_url)
    tag = secrets.token_hex(4)
    try:
        async with make_sessionmaker(engine)() as s:
            agency = Agency(code=f"p{tag}", name="Fuzz", categories=[])
            s.add(agency)
            await s.flush()
            made = {}
            for role in (Role.ADMIN, Role.SUPERVISOR, Role.AGENCY):
                user = User(
                    username=f"fuzz-{role.value}-{tag}",
                    role=role.value,
                    password_hash=hash_password(secrets.token_urlsafe(12)),
                    agency_id=agency.id if role is Role.AGENCY else None,
                )
                s.add(user)
                await s.flush()
                made[role.value] = Principal(user.id, user.username, role, user.agency_id)
            await s.commit()
        return made
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def api_schema(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> OpenApiSchema:
    app_settings = Settings(
        database_url=database_url,
        api=ApiSettings(jwt_secret=SecretStr(JWT_SECRET)),
        ami=AmiSettings(secret=SecretStr(secrets.token_urlsafe(24))),
        asterisk={"root": tmp_path_factory.mktemp("fuzz-root")},  # type: ignore[arg-type]
    )
    loop = asyncio.new_event_loop()
    try:
        principals = loop.run_until_complete(_principals(database_url))
    finally:
        loop.close()
    for role, principal in principals.items():
        TOKENS[role] = issue_token(principal, JWT_SECRET, 60)
    app = create_app(app_settings)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_input_makes_the_api_fail_with_a_server_error(api_schema: OpenApiSchema) -> None:
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/events/stream":  # an endless stream; covered by its own test
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: schemathesis.Case) -> None:
            for role in ("admin", "agency"):  # admin reaches every handler; agency its own
                response = case.call(headers={"Authorization": f"Bearer {TOKENS[role]}"})
                where = f"{role} {case.method} {case.formatted_path}"
                if response.status_code >= 500:
                    failures.append(f"{where}: {response.status_code} {response.text[:300]}")
                elif response.status_code >= 400 and "error_id" not in response.json():
                    failures.append(f"{where}: error without error_id: {response.text[:300]}")

        check()
    assert operations > 20
    assert failures == []
