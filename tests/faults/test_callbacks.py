"""Issue 4: a call taker calls a dropped caller back. Asterisk calls the SIPp "citizen" through
the trunk (AMI Originate), rings the call taker, records the call, and the call joins the ticket."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.app import create_app
from core.db import make_sessionmaker
from core.names import CallDirection, CallOutcome, Role
from core.settings import Settings
from models.call import Call
from ops.asterisk import AsteriskInstance
from ops.sipp import _CENTRE_HANGS_UP, _PLAY, SPEECH, SippRunner, calltaker_scenario
from services.users.auth import issue_token
from tests.conftest import user_principal
from tests.e2e.conftest import GatewayProcess, eventually, unique_number
from tests.faults.traffic import WAV_HEADER, calls_of

pytestmark = pytest.mark.e2e


async def _citizen(settings: Settings, workdir: Path) -> asyncio.subprocess.Process:
    """The citizen's phone on the carrier's side: answers one call and speaks until the centre
    hangs up."""
    contact = settings.asterisk.carrier_contact
    assert contact is not None
    host, port = contact.removeprefix("sip:").split(":")
    scenario = workdir / "citizen.xml"
    # a call taker's phone scenario, but the citizen speaks and the centre ends the call
    answer = calltaker_scenario(ring_ms=300, talk_ms=0).split('<pause milliseconds="0"/>')[0]
    answer = re.sub(  # the variables it keeps for its own BYE are not needed here
        r'<recv request="INVITE" crlf="true" rrs="true">.*?</recv>',
        '<recv request="INVITE" crlf="true" rrs="true"/>',
        answer,
        flags=re.S,
    )
    scenario.write_text(answer + _PLAY.format(pcap=SPEECH) + _CENTRE_HANGS_UP + "\n</scenario>\n")
    return await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(scenario), "-i", host, "-p", port, "-mi", host,
        "-mp", str(int(port) + 2), "-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=workdir,
    )  # fmt: skip


async def test_a_dropped_callers_callback_rings_the_citizen_and_joins_the_ticket(
    gateway: GatewayProcess,
    sipp: SippRunner,
    asterisk: AsteriskInstance,
    engine: AsyncEngine,
    e2e_settings: Settings,
    tmp_path: Path,
) -> None:
    number = unique_number()
    result = await sipp.call([number], hangup_after_ms=1500)  # gone during the greeting
    assert result.ok, result.stderr
    dropped = await eventually(lambda: _ended(engine, number), timeout=30)
    assert dropped.outcome == CallOutcome.DROPPED and dropped.ticket_id is not None
    citizen = await _citizen(e2e_settings, tmp_path)

    app = create_app(e2e_settings)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    secret = e2e_settings.api.jwt_secret
    assert secret is not None
    assert e2e_settings.database_url is not None
    calltaker = user_principal(e2e_settings.database_url, Role.CALLTAKER, "ct-callback")
    token = issue_token(calltaker, secret.get_secret_value(), 60)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        response = await client.post(
            f"/tickets/{dropped.ticket_id}/callbacks", json={"calltaker": "ct1"}
        )
        assert response.status_code == 201, response.text
        made = response.json()
        missing = await client.post("/tickets/999999999/callbacks", json={"calltaker": "ct1"})
        assert missing.status_code == 404 and missing.json()["error_id"] == "not-found"
    assert made["ticket_id"] == dropped.ticket_id and made["direction"] == "callback"

    out, err = await asyncio.wait_for(citizen.communicate(), 90)
    assert citizen.returncode == 0, (out + err).decode(errors="replace")[-2000:]  # rang, answered

    async def done() -> Call | None:
        async with AsyncSession(engine) as s:
            call = await s.scalar(select(Call).where(Call.uniqueid == made["uniqueid"]))
        return call if call is not None and call.ended_at is not None else None

    callback = await eventually(done, timeout=30)
    assert callback.ticket_id == dropped.ticket_id
    assert callback.direction == CallDirection.CALLBACK
    assert callback.outcome == CallOutcome.ANSWERED and callback.answered_at is not None
    assert callback.calltaker == "ct1"
    assert callback.caller_number == "0" + number[1:] or callback.caller_number == number
    assert callback.recording_path
    assert (asterisk.recordings / callback.recording_path).stat().st_size > WAV_HEADER
    # still one ticket for this citizen: the callback joined it
    calls = await calls_of(engine, [number])
    assert {c.ticket_id for c in calls} == {dropped.ticket_id}


async def _ended(engine: AsyncEngine, number: str) -> Call | None:
    calls = await calls_of(engine, [number])
    return (
        calls[0]
        if calls and calls[0].ended_at is not None and calls[0].outcome != CallOutcome.IN_PROGRESS
        else None
    )
