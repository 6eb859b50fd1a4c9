"""Logging in, roles and what each may do."""

from __future__ import annotations

import re
import secrets

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import User
from services.users import service as users
from tests.api.conftest import PASSWORD, Client, People


async def test_a_user_logs_in_with_a_form_or_json_and_sees_itself(
    client: Client, people: People
) -> None:
    anonymous = await client()
    form = await anonymous.post(
        "/auth/token", data={"username": people.calltaker, "password": PASSWORD}
    )
    assert form.status_code == 200
    assert form.json()["role"] == "calltaker"
    as_json = await anonymous.post(
        "/auth/token", json={"username": people.calltaker, "password": PASSWORD}
    )
    assert as_json.status_code == 200
    me = await anonymous.get(
        "/auth/me", headers={"Authorization": f"Bearer {as_json.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == people.calltaker
    assert me.json()["sip_account"] == "ct1"
    assert "password" not in str(me.json())


@pytest.mark.parametrize(
    ("username", "password"), [("nobody-here", PASSWORD), (None, "wrong-password-123")]
)
async def test_wrong_credentials_get_one_answer_that_reveals_nothing(
    client: Client, people: People, username: str | None, password: str
) -> None:
    anonymous = await client()
    r = await anonymous.post(
        "/auth/token", data={"username": username or people.supervisor, "password": password}
    )
    assert r.status_code == 401
    assert r.json()["error_id"] == "invalid-credentials"


# Public by design: health checks, the login itself, the OpenAPI description, and the consoles'
# pages and static files (they hold no data; every call they make needs a token).
PUBLIC_PREFIXES = ("/health/", "/auth/token", "/openapi.json", "/docs", "/redoc", "/ui", "/")


def _api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation the API describes, with each path parameter set to 1."""
    found = []
    for template, operations in app.openapi()["paths"].items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        if path == "/" or any(path.startswith(p) for p in PUBLIC_PREFIXES if p != "/"):
            continue
        found += [(method.upper(), path) for method in sorted(operations)]
    return found


async def test_every_endpoint_but_health_needs_authentication(
    client: Client, api_app: FastAPI
) -> None:
    anonymous = await client()
    routes = _api_routes(api_app)
    assert ("GET", "/tickets") in routes and ("GET", "/events/stream") in routes
    for method, path in routes:
        r = await anonymous.request(method, path)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.json()["error_id"] == "unauthenticated", (method, path)
    assert (await anonymous.get("/health/live")).status_code == 200


async def test_a_forged_or_expired_token_is_refused(client: Client) -> None:
    anonymous = await client()
    r = await anonymous.get("/tickets", headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401
    assert r.json()["error_id"] == "unauthenticated"


async def test_a_call_taker_cannot_manage_users(client: Client, people: People) -> None:
    calltaker = await client(people.calltaker)
    assert (await calltaker.get("/users")).status_code == 403
    r = await calltaker.post(
        "/users", json={"username": "newbie", "password": "x" * 12, "role": "admin"}
    )
    assert r.status_code == 403
    assert r.json()["error_id"] == "forbidden"


async def test_an_agency_user_cannot_read_the_centres_tickets(
    client: Client, people: People
) -> None:
    agency = await client(people.agency)
    assert (await agency.get("/tickets")).status_code == 403
    assert (await agency.get("/audit")).status_code == 403
    assert (await agency.get("/recordings/1")).status_code == 403


async def test_an_admin_creates_a_user_who_can_log_in_and_deactivates_them(
    client: Client, people: People
) -> None:
    admin = await client(people.admin)
    r = await admin.post(
        "/users",
        json={
            "username": f"sari-{people.agency_id}",
            "password": "panjang-sekali-1",
            "role": "calltaker",
            "full_name": "Sari",
            "sip_account": "ct2",
        },
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    sari = await client()
    login = {"username": f"sari-{people.agency_id}", "password": "panjang-sekali-1"}
    assert (await sari.post("/auth/token", data=login)).status_code == 200
    reset = await admin.patch(f"/users/{user_id}", json={"password": "baru-dan-panjang-2"})
    assert reset.status_code == 200
    assert (await sari.post("/auth/token", data=login)).status_code == 401
    login["password"] = "baru-dan-panjang-2"
    token = (await sari.post("/auth/token", data=login)).json()["access_token"]
    sari.headers["Authorization"] = f"Bearer {token}"
    assert (await sari.get("/auth/me")).json()["username"] == login["username"]

    assert (await admin.patch(f"/users/{user_id}", json={"active": False})).status_code == 200
    assert (await sari.post("/auth/token", data=login)).status_code == 401
    # a token issued before the deactivation stops working at once
    after = await sari.get("/auth/me")
    assert after.status_code == 401
    assert after.json()["error_id"] == "unauthenticated"
    audit = await admin.get("/audit", params={"entity": "user", "entity_id": str(user_id)})
    entries = audit.json()["items"]
    assert [e["action"] for e in entries] == ["user.update", "user.update", "user.create"]
    assert entries[0]["before"] == {"active": True} and entries[0]["after"] == {"active": False}
    assert entries[1]["after"] == {"password_changed": True}
    assert "panjang" not in audit.text  # no password ever reaches the audit log


async def test_an_admin_cannot_deactivate_themselves(client: Client, people: People) -> None:
    admin = await client(people.admin)
    me = (await admin.get("/auth/me")).json()
    r = await admin.patch(f"/users/{me['id']}", json={"active": False})
    assert r.status_code == 409
    assert r.json()["error_id"] == "cannot-deactivate-self"
    assert (await admin.get("/auth/me")).json()["active"] is True


async def test_user_rules_are_checked(client: Client, people: People) -> None:
    admin = await client(people.admin)
    cases = [
        ({"username": "x", "password": "x" * 12, "role": "calltaker"}, "username"),
        ({"username": "valid-name", "password": "short", "role": "calltaker"}, "password"),
        ({"username": "valid-name", "password": "x" * 12, "role": "king"}, "role"),
        ({"username": "valid-name", "password": "x" * 12, "role": "agency"}, "agency_id"),
    ]
    for body, field in cases:
        r = await admin.post("/users", json=body)
        assert r.status_code == 422, body
        assert r.json()["error_id"] == "validation-failed"
        assert field in str(r.json()["details"]), (body, r.json())
    dup = await admin.post(
        "/users", json={"username": people.calltaker, "password": "x" * 12, "role": "calltaker"}
    )
    assert dup.status_code == 409


async def test_the_first_start_creates_one_admin_and_never_another(session: AsyncSession) -> None:
    # inside a transaction rolled back after the test: pretend the centre has no admin yet
    await session.execute(update(User).where(User.role == "admin").values(role="supervisor"))
    password = "pertama-kali-" + secrets.token_hex(4)
    name = "admin-" + secrets.token_hex(4)
    assert await users.ensure_admin(session, name, password) is True
    admin = await users.authenticate(session, name, password)
    assert admin.role == "admin"
    assert await users.ensure_admin(session, "admin-two", "another-password") is False
    assert await session.scalar(select(User.id).where(User.username == "admin-two")) is None
