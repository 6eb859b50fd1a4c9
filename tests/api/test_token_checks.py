"""A signed token is honoured only while it names a user as the database has them: a token naming
no user, another user's id, another role or another agency is refused."""

from __future__ import annotations

import dataclasses

import pytest

from core.names import Role
from services.users.auth import issue_token, read_token
from tests.api.conftest import JWT_SECRET, Client, People


async def _me(client: Client, people: People, token: str) -> int:
    c = await client()
    c.headers["Authorization"] = f"Bearer {token}"
    r = await c.get("/auth/me")
    if r.status_code != 200:
        assert r.json()["error_id"] == "unauthenticated"
    return r.status_code


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": 2**40},  # no such user
        {"user_id": 2**63},  # beyond any id
        {"username": "someone-else"},  # the id of one user, the name of another
        {"role": Role.ADMIN},  # a role the user does not have
        {"agency_id": -1},  # an agency the user is not in
    ],
)
async def test_a_token_that_does_not_match_its_user_is_refused(
    client: Client, people: People, change: dict[str, object]
) -> None:
    login = await client(people.agency)
    genuine = str(login.headers["Authorization"]).removeprefix("Bearer ")
    assert await _me(client, people, genuine) == 200
    principal = read_token(genuine, JWT_SECRET)
    if change.get("agency_id") == -1:
        change = {"agency_id": people.other_agency_id}
    forged = issue_token(dataclasses.replace(principal, **change), JWT_SECRET, 60)  # type: ignore[arg-type]

    assert await _me(client, people, forged) == 401
