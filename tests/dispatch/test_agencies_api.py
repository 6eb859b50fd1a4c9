"""The agencies registry: seeded, managed by admins, read by centre staff; signing secrets are
shown once and rotate with an overlap."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.categories import AGENCY_SEEDS
from core.names import Role
from models import Agency, AgencySecret, AuditEntry
from services.dispatch import agencies
from tests.dispatch.conftest import Client


async def test_seed_is_idempotent_and_gives_each_agency_a_secret(session: AsyncSession) -> None:
    await agencies.seed(session)
    await agencies.seed(session)
    codes = [s.code for s in AGENCY_SEEDS]
    rows = (await session.scalars(select(Agency).where(Agency.code.in_(codes)))).all()
    assert sorted(a.code for a in rows) == sorted(codes)
    for agency in rows:
        count = await session.scalar(
            select(func.count()).where(AgencySecret.agency_id == agency.id)
        )
        assert count == 1
    polres = next(a for a in rows if a.code == "polres")
    assert "CRIME" in polres.categories


def new_code() -> str:
    return "a" + secrets.token_hex(5)


async def test_the_secret_is_shown_once_at_creation_and_never_in_reads(client: Client) -> None:
    admin = client(Role.ADMIN, username="admin")
    code = new_code()
    r = await admin.post(
        "/agencies",
        json={
            "code": code,
            "name": "Damkar Uji",
            "categories": ["FIRE"],
            "webhook_url": "http://127.0.0.1:9/hook",
        },
    )
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert secret.startswith("whsec_")
    supervisor = client(Role.SUPERVISOR)
    listed = (await supervisor.get("/agencies")).text
    one = (await supervisor.get(f"/agencies/{code}")).text
    assert secret not in listed and secret not in one
    assert "secret" not in (await supervisor.get(f"/agencies/{code}")).json()


async def test_only_admins_manage_agencies(client: Client) -> None:
    body = {"code": new_code(), "name": "Instansi"}
    for role in (Role.SUPERVISOR, Role.CALLTAKER, Role.AGENCY):
        r = await client(role).post("/agencies", json=body)
        assert r.status_code == 403
        assert r.json()["error_id"] == "forbidden"
    assert (await client(Role.AGENCY).get("/agencies")).status_code == 403
    assert (await client().get("/agencies")).status_code == 401


async def test_a_hostile_webhook_url_is_refused_at_registration(client: Client) -> None:
    admin = client(Role.ADMIN)
    for url in (
        "https://169.254.169.254/latest",
        "http://10.0.0.1/h",
        "ftp://x.example/h",
        "https://127.0.0.2/h",
    ):
        r = await admin.post(
            "/agencies", json={"code": new_code(), "name": "Instansi X", "webhook_url": url}
        )
        assert r.status_code == 422, url
        assert r.json()["error_id"] == "webhook-target-refused"
        assert r.json()["details"]["url"] == url


async def test_validation_names_the_field(client: Client) -> None:
    admin = client(Role.ADMIN)
    r = await admin.post("/agencies", json={"code": "Bad Code!", "name": "Instansi X"})
    assert r.status_code == 422
    assert r.json()["details"]["fields"][0]["field"] == "code"
    r = await admin.post(
        "/agencies", json={"code": new_code(), "name": "Instansi X", "categories": ["NOPE"]}
    )
    assert r.status_code == 422
    assert r.json()["details"]["fields"][0]["field"] == "categories"
    code = new_code()
    assert (
        await admin.post("/agencies", json={"code": code, "name": "Instansi X"})
    ).status_code == 201
    r = await admin.post("/agencies", json={"code": code, "name": "Instansi X"})
    assert r.status_code == 409


async def test_rotation_keeps_the_old_secret_valid_for_the_overlap(
    client: Client, sessions
) -> None:  # type: ignore[no-untyped-def]
    admin = client(Role.ADMIN, username="admin")
    code = new_code()
    first = (await admin.post("/agencies", json={"code": code, "name": "Instansi X"})).json()
    r = await admin.post(f"/agencies/{code}/secret")
    assert r.status_code == 200
    second = r.json()
    assert second["secret"] != first["secret"] and second["previous_valid_until"]
    async with sessions() as s:
        valid = await agencies.valid_secrets(s, [first["agency"]["id"]])
        assert valid[first["agency"]["id"]] == [second["secret"], first["secret"]]
        audit_rows = (await s.scalars(select(AuditEntry).where(AuditEntry.entity_id == code))).all()
    assert {a.action for a in audit_rows} == {"agency.created", "agency.secret_rotated"}
    assert all(first["secret"] not in str(a.after) for a in audit_rows)


async def test_an_admin_updates_and_reenables_an_agency(client: Client) -> None:
    admin = client(Role.ADMIN)
    code = new_code()
    await admin.post("/agencies", json={"code": code, "name": "Instansi X"})
    r = await admin.patch(f"/agencies/{code}", json={"webhook_enabled": False, "name": "Baru"})
    assert r.status_code == 200 and r.json()["webhook_disabled_at"] and r.json()["name"] == "Baru"
    r = await admin.patch(f"/agencies/{code}", json={"webhook_enabled": True})
    assert r.json()["webhook_disabled_at"] is None
    assert (await admin.patch("/agencies/nosuchagency", json={"name": "Yogi"})).status_code == 404
