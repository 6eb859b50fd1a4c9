"""The triage endpoints and their role rules: call takers read caller history and the callback
worklist; only supervisors (and admins) set or lift flags and change the policy, every change in
the audit log; agencies see none of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.timeutil import utcnow
from models import AuditEntry
from services.triage import decide as triage
from tests.api.conftest import Client, People
from tests.triage.conftest import add_call, new_number


async def test_history_is_for_centre_staff(
    client: Client, people: People, engine: AsyncEngine
) -> None:
    number = new_number()
    async with AsyncSession(engine, expire_on_commit=False) as s:
        for minutes in (10, 20, 30):
            await add_call(s, number, utcnow() - timedelta(minutes=minutes), classification="prank")
        await s.commit()
    ct = await client(people.calltaker)
    local_form = "0" + number.removeprefix("+62")
    r = await ct.get(f"/callers/{local_form}/history")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["number"] == number and body["total"] == 3
    assert body["text"].startswith("3 panggilan dalam 24 jam, 3 ditandai iseng")
    agency = await client(people.agency)
    assert (await agency.get(f"/callers/{number}/history")).status_code == 403
    assert (await (await client()).get(f"/callers/{number}/history")).status_code == 401
    r = await ct.get("/callers/anonymous/history")
    assert r.status_code == 422 and r.json()["error_id"] == "validation-failed"


async def test_supervisor_sets_and_lifts_flags_call_taker_cannot(
    client: Client, people: People, engine: AsyncEngine
) -> None:
    number = new_number()
    ct, spv = await client(people.calltaker), await client(people.supervisor)
    body = {"reason": "ancaman palsu berulang", "hours": 12}
    assert (await ct.post(f"/callers/{number}/flags", json=body)).status_code == 403
    assert (await ct.post(f"/callers/{number}/lift")).status_code == 403

    r = await spv.post(f"/callers/{number}/flags", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active" and r.json()["set_by"] == people.supervisor
    async with AsyncSession(engine) as s:
        decision = await triage.decide(s, number, utcnow())
    assert decision.flagged and decision.source == "manual" and decision.warn

    listed = (await spv.get("/callers/flags")).json()["items"]
    assert number in [f["caller_number"] for f in listed]
    history = (await ct.get(f"/callers/{number}/history")).json()
    assert history["policy"]["flagged"] and history["flags"][0]["reason"] == body["reason"]

    r = await spv.post(f"/callers/{number}/lift", json={"reason": "nomor salah"})
    assert r.status_code == 200 and r.json()["kind"] == "cleared"
    async with AsyncSession(engine) as s:
        assert not (await triage.decide(s, number, utcnow())).flagged
        actions = list(
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity == "caller_flag", AuditEntry.entity_id == number)
                .order_by(AuditEntry.id)
            )
        )
    assert actions == ["caller_flag.set", "caller_flag.lift"]
    r = await spv.get(f"/callers/{number}/flags")
    assert [a["action"] for a in r.json()["audit"]] == ["caller_flag.lift", "caller_flag.set"]
    still = (await spv.get("/callers/flags")).json()["items"]
    assert number not in [f["caller_number"] for f in still]
    assert (await ct.get("/callers/flags")).status_code == 403


async def test_flag_input_is_checked(client: Client, people: People) -> None:
    spv = await client(people.supervisor)
    bad_bodies: tuple[dict[str, object], ...] = (
        {},
        {"reason": "x"},
        {"reason": "iseng", "hours": 0},
        {"reason": "ok", "hours": 99999},
    )
    for body in bad_bodies:
        r = await spv.post(f"/callers/{new_number()}/flags", json=body)
        assert r.status_code == 422 and r.json()["error_id"] == "validation-failed", body
    r = await spv.post("/callers/unknown/flags", json={"reason": "iseng"})
    assert r.status_code == 422


async def test_policy_read_and_changed_by_supervisors_only(
    client: Client, people: People, engine: AsyncEngine
) -> None:
    ct, spv = await client(people.calltaker), await client(people.supervisor)
    assert (await ct.get("/triage/policy")).status_code == 403
    assert (await ct.put("/triage/policy", json={"threshold": 5})).status_code == 403
    before = (await spv.get("/triage/policy")).json()
    try:
        r = await spv.put("/triage/policy", json={"threshold": before["threshold"] + 2})
        assert r.status_code == 200 and r.json()["threshold"] == before["threshold"] + 2
        assert (await spv.get("/triage/policy")).json()["threshold"] == before["threshold"] + 2
        async with AsyncSession(engine) as s:
            audit = await s.scalar(
                select(AuditEntry)
                .where(AuditEntry.entity == "triage_policy")
                .order_by(AuditEntry.id.desc())
                .limit(1)
            )
        assert audit is not None and audit.actor == people.supervisor
        assert audit.after == {"threshold": before["threshold"] + 2}
        for bad in (
            {"threshold": -1},
            {"half_life_hours": 0},
            {"priority_penalty": 9},
            {"nonsense": 1},
        ):
            r = await spv.put("/triage/policy", json=bad)
            assert r.status_code == 422 and r.json()["error_id"] == "validation-failed", bad
    finally:
        await spv.put("/triage/policy", json=before)
        triage.forget_cached_settings()


@pytest.mark.parametrize("who", ["calltaker", "supervisor"])
async def test_callback_worklist_for_centre_staff(client: Client, people: People, who: str) -> None:
    r = await (await client(getattr(people, who))).get("/callbacks?hours=2")
    assert r.status_code == 200 and isinstance(r.json()["items"], list)
    assert (await (await client(people.agency)).get("/callbacks")).status_code == 403
