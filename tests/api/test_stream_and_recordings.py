"""The live stream over a real HTTP server, and the authorised recording download."""

from __future__ import annotations

import asyncio
import json
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.app import create_app
from api.routers.recordings import recording_file
from core.names import StreamEvent
from core.settings import Settings
from models import Agency, Call
from services import events
from tests.api.conftest import PASSWORD, Client, MakeTicket, People
from tests.conftest import free_port


@dataclass
class Live:
    url: str
    app: FastAPI


@pytest.fixture
async def live_api(api_settings: Settings) -> AsyncIterator[Live]:
    """The API on a real uvicorn server on loopback, its lifespan (and stream hub) running."""
    app: FastAPI = create_app(api_settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(100):
        if server.started:
            break
        await asyncio.sleep(0.05)
    await asyncio.wait_for(app.state.stream_hub.connected.wait(), 10)
    yield Live(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    await task


async def _login(http: httpx.AsyncClient, username: str) -> str:
    r = await http.post("/auth/token", data={"username": username, "password": PASSWORD})
    return str(r.json()["access_token"])


async def _events(
    http: httpx.AsyncClient, token: str, found: list[dict[str, object]], ready: asyncio.Event
) -> None:
    async with http.stream("GET", f"/events/stream?access_token={token}") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                ready.set()
            elif line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                found.append({"event": name, "data": json.loads(line.removeprefix("data: "))})


async def test_a_console_sees_ticket_updates_and_who_answered_the_call_live(
    live_api: Live, people: People, make_ticket: MakeTicket, engine: AsyncEngine
) -> None:
    ticket = await make_ticket()
    wanted = [people.agency_id, people.other_agency_id]
    async with AsyncSession(engine) as s:
        rows = await s.execute(select(Agency.id, Agency.code).where(Agency.id.in_(wanted)))
        codes: dict[int, str] = {agency_id: code for agency_id, code in rows}
    hub = live_api.app.state.stream_hub
    async with httpx.AsyncClient(base_url=live_api.url, timeout=10) as http:
        token = await _login(http, people.calltaker)
        agency_token = await _login(http, people.agency)
        seen: list[dict[str, object]] = []
        agency_seen: list[dict[str, object]] = []
        ready, agency_ready = asyncio.Event(), asyncio.Event()
        listener = asyncio.create_task(_events(http, token, seen, ready))
        agency_listener = asyncio.create_task(
            _events(http, agency_token, agency_seen, agency_ready)
        )
        await asyncio.wait_for(asyncio.gather(ready.wait(), agency_ready.wait()), 10)
        assert len(hub._subscribers) == 2  # one queue per console, one LISTEN for them all

        r = await http.patch(
            f"/tickets/{ticket.id}",
            json={"reporter_name": "Ani"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200
        async with AsyncSession(engine) as s:  # what the gateway and dispatch publish
            await events.publish(
                s,
                StreamEvent.CALL_ANSWERED,
                {"ticket_id": ticket.id, "calltaker": "ct1", "uniqueid": "u-1"},
            )
            for agency_id in (people.other_agency_id, people.agency_id):
                await events.publish(
                    s,
                    StreamEvent.DISPATCH_UPDATED,
                    {"ticket_id": ticket.id, "agency": codes[agency_id], "state": "pending"},
                )
            await s.commit()

        for _ in range(200):
            kinds = {(e["event"], e["data"].get("ticket_id")) for e in seen}  # type: ignore[union-attr]
            if {("ticket.updated", ticket.id), ("call.answered", ticket.id)} <= kinds and (
                agency_seen
            ):
                break
            await asyncio.sleep(0.05)
        listener.cancel()
        agency_listener.cancel()
        await asyncio.gather(listener, agency_listener, return_exceptions=True)
        for _ in range(200):  # the server notices the disconnects and drops the queues
            if not hub._subscribers:
                break
            await asyncio.sleep(0.05)
    assert ("ticket.updated", ticket.id) in kinds
    assert ("call.answered", ticket.id) in kinds
    answered = next(e for e in seen if e["event"] == "call.answered")
    assert answered["data"]["calltaker"] == "ct1"  # type: ignore[index]
    # an agency sees its own dispatch's news and nothing of the centre's tickets or other agencies
    assert [(e["event"], e["data"]["agency"]) for e in agency_seen] == [  # type: ignore[index]
        ("dispatch.updated", codes[people.agency_id])
    ]
    assert not hub._subscribers


def _wav(path: Path, seconds: float = 0.5) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * int(8000 * seconds))


async def test_centre_staff_download_a_calls_recording_and_it_is_audited(
    client: Client,
    people: People,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    api_settings: Settings,
) -> None:
    ticket = await make_ticket()
    name = f"2026/11/23/rec-{ticket.id}.wav"
    _wav(api_settings.asterisk_host_path(api_settings.recordings_dir) / name)
    async with AsyncSession(engine, expire_on_commit=False) as s:
        call = Call(uniqueid=f"rec-{ticket.id}", ticket_id=ticket.id, recording_path=name)
        s.add(call)
        await s.commit()
    other = await make_ticket()
    sup = await client(people.supervisor)
    view = (await sup.get(f"/tickets/{ticket.id}")).json()
    link = view["calls"][0]["recording_url"]
    assert link == f"/tickets/{ticket.id}/calls/{call.id}/recording"
    r = await sup.get(link)
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/wav"
    assert r.content[:4] == b"RIFF"
    audit = (await sup.get("/audit", params={"entity": "call", "entity_id": str(call.id)})).json()
    assert audit["items"][0]["action"] == "recording.download"
    assert audit["items"][0]["actor"] == people.supervisor
    # the same call under another ticket's address does not exist
    wrong = await sup.get(f"/tickets/{other.id}/calls/{call.id}/recording")
    assert wrong.status_code == 404
    assert wrong.json()["error_id"] == "not-found"
    # the consoles' audio element: token in the query string
    token = sup.headers["Authorization"].removeprefix("Bearer ")
    anonymous = await client()
    assert (await anonymous.get(link, params={"access_token": token})).status_code == 200
    assert (await anonymous.get(link)).status_code == 401
    agency = await client(people.agency)
    assert (await agency.get(link)).status_code == 403
    assert (await agency.get(f"/recordings/{call.id}")).status_code == 403


@pytest.mark.parametrize(
    "name", ["../../etc/passwd.wav", "/etc/passwd", "a/../../b.wav", "x.txt", "..wav/../../a.wav"]
)
def test_a_recording_name_can_never_leave_the_recordings_folder(
    api_settings: Settings, name: str
) -> None:
    assert recording_file(api_settings, name) is None
