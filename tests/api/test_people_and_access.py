"""Logging in, roles and what each may do."""

from __future__ import annotations

import pytest

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


async def test_every_endpoint_but_health_needs_authentication(client: Client) -> None:
    anonymous = await client()
    for path in (
        "/tickets",
        "/tickets/1",
        "/users",
        "/audit",
        "/meta/categories",
        "/auth/me",
        "/recordings/1",
        "/events/stream",
        "/agency/dispatches",
    ):
        r = await anonymous.get(path)
        assert r.status_code == 401, path
        assert r.json()["error_id"] == "unauthenticated", path
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
    assert (await admin.patch(f"/users/{user_id}", json={"active": False})).status_code == 200
    assert (await sari.post("/auth/token", data=login)).status_code == 401
    audit = await admin.get("/audit", params={"entity": "user", "entity_id": str(user_id)})
    actions = [e["action"] for e in audit.json()["items"]]
    assert actions == ["user.update", "user.create"]
    assert "panjang-sekali-1" not in audit.text


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
