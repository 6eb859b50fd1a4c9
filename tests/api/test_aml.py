"""AML reception over real HTTP handling on real PostgreSQL: senders authenticate with the shared
token, positions are stored and go to the ticket of the same caller whose call arrived around
then, filling its coordinates only where nobody has set them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.app import create_app
from core.db import make_sessionmaker
from core.settings import AmlSettings, Settings
from core.timeutil import utcnow
from models import AmlPosition, Ticket
from services.aml import service as aml
from services.calls.apply import apply_fact
from services.calls.facts import CallFact
from tests.api.conftest import PASSWORD, MakeTicket, People

TOKEN = secrets.token_urlsafe(24)
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def aml_app(api_settings: Settings, engine: AsyncEngine) -> FastAPI:
    settings = api_settings.model_copy(update={"aml": AmlSettings(token=SecretStr(TOKEN))})
    application = create_app(settings)
    application.state.engine = engine
    application.state.sessionmaker = make_sessionmaker(engine)
    return application


@pytest.fixture
async def sender(aml_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=aml_app),
        base_url="http://api",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as c:
        yield c


@pytest.fixture
async def calltaker(aml_app: FastAPI, people: People) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=aml_app), base_url="http://api"
    ) as c:
        r = await c.post("/auth/token", data={"username": people.calltaker, "password": PASSWORD})
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield c


def new_number() -> str:
    return "+62812" + "".join(secrets.choice("0123456789") for _ in range(7))


def sms(number: str, lat: float = -3.31234, lon: float = 104.91234) -> dict[str, str]:
    text = f'A"ML=1;lt={lat:.5f};lg={lon:.5f};rd=52;top=20251112112928;lc=68;pm=G;mcc=510;ml=90'
    return {"sender": number, "text": text}


async def test_missing_or_wrong_token_is_refused(aml_app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=aml_app), base_url="http://api"
    ) as c:
        missing = await c.post("/aml/sms", json=sms(new_number()))
        wrong = await c.post(
            "/aml/https",
            content=urlencode({"device_number": new_number(), "location_latitude": "1"}),
            headers={"Authorization": f"Bearer {TOKEN}x", "Content-Type": FORM},
        )
    for r in (missing, wrong):
        assert r.status_code == 401, r.text
        assert r.json()["error_id"] == "unauthenticated"


async def test_aml_off_says_so_and_stores_nothing(api_app: FastAPI, engine: AsyncEngine) -> None:
    number = new_number()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app), base_url="http://api"
    ) as c:
        r = await c.post("/aml/sms", json=sms(number), headers={"Authorization": f"Bearer {TOKEN}"})
        anonymous = await c.post("/aml/sms", json=sms(number))
    assert r.status_code == 404
    assert r.json()["error_id"] == "aml-off"
    assert anonymous.status_code == 401  # no token: refused as any unauthenticated request
    assert anonymous.json()["error_id"] == "unauthenticated"
    assert await _positions(engine, number) == []


async def test_https_position_for_a_recent_ticket_fills_its_coordinates(
    sender: httpx.AsyncClient, calltaker: httpx.AsyncClient, make_ticket: MakeTicket
) -> None:
    number = new_number()
    ticket = await make_ticket(caller_number=number, created_at=utcnow() - timedelta(seconds=40))
    form = {
        "device_number": number,
        "location_latitude": "-3.2861",
        "location_longitude": "104.7612",
        "location_accuracy": "14",
        "location_source": "wifi",
        "location_certainty": "68",
        "location_time": "1762946968000",
    }
    r = await sender.post("/aml/https", content=urlencode(form), headers={"Content-Type": FORM})
    assert r.status_code == 201, r.text
    assert r.json()["ticket_number"] == ticket.number

    view = (await calltaker.get(f"/tickets/{ticket.id}")).json()
    assert (view["latitude"], view["longitude"]) == (-3.2861, 104.7612)
    assert view["aml"]["id"] == r.json()["id"]
    assert (view["aml"]["radius_m"], view["aml"]["method"], view["aml"]["confidence"]) == (
        14.0,
        "W",
        68,
    )
    entry = next(e for e in view["timeline"] if e["kind"] == "ticket.aml")
    assert entry["actor"] == "aml" and entry["data"]["after"]["filled"] is True


async def test_call_takers_coordinates_are_kept(
    sender: httpx.AsyncClient, calltaker: httpx.AsyncClient, make_ticket: MakeTicket
) -> None:
    number = new_number()
    ticket = await make_ticket(caller_number=number, latitude=-3.4, longitude=104.8)
    r = await sender.post("/aml/sms", json=sms(number))
    assert r.status_code == 201, r.text
    assert r.json()["ticket_id"] == ticket.id

    view = (await calltaker.get(f"/tickets/{ticket.id}")).json()
    assert (view["latitude"], view["longitude"]) == (-3.4, 104.8)
    assert (view["aml"]["latitude"], view["aml"]["longitude"]) == (-3.31234, 104.91234)
    entry = next(e for e in view["timeline"] if e["kind"] == "ticket.aml")
    assert entry["data"]["after"]["filled"] is False


async def test_position_before_the_call_joins_its_ticket_when_the_ticket_is_read(
    sender: httpx.AsyncClient, calltaker: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    number = new_number()
    r = await sender.post("/aml/sms", json=sms(number))
    assert r.status_code == 201, r.text
    assert r.json()["ticket_number"] is None

    # the call arrives after the position, and the gateway opens its ticket
    async with AsyncSession(engine) as s:
        fact = CallFact("arrived", f"aml-{number}", utcnow(), {"caller_number": number})
        opened = await apply_fact(s, fact)
        await s.commit()
    assert opened.ticket_id is not None

    view = (await calltaker.get(f"/tickets/{opened.ticket_id}")).json()
    assert view["aml"]["id"] == r.json()["id"]
    assert (view["latitude"], view["longitude"]) == (-3.31234, 104.91234)
    [stored] = await _positions(engine, number)
    assert stored.ticket_id == opened.ticket_id


async def test_periodic_matcher_gives_a_waiting_position_its_new_ticket(
    sender: httpx.AsyncClient, make_ticket: MakeTicket, engine: AsyncEngine
) -> None:
    number = new_number()
    r = await sender.post("/aml/sms", json=sms(number))
    assert r.json()["ticket_id"] is None
    ticket = await make_ticket(caller_number=number)

    settings = AmlSettings(token=SecretStr(TOKEN))
    async with make_sessionmaker(engine)() as s:
        assert await aml.match_pending(s, settings) >= 1
        await s.commit()
    [stored] = await _positions(engine, number)
    assert stored.ticket_id == ticket.id
    async with AsyncSession(engine) as s:
        filled = await s.get(Ticket, ticket.id)
        assert filled is not None and (filled.latitude, filled.longitude) == (-3.31234, 104.91234)


async def test_position_of_an_unknown_number_is_stored_unmatched(
    sender: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    number = new_number()
    text = sms(number)["text"]
    r = await sender.post("/aml/sms", json={"sender": number, "text": text})
    assert r.status_code == 201, r.text
    assert r.json() == {"id": r.json()["id"], "ticket_id": None, "ticket_number": None}
    [stored] = await _positions(engine, number)
    assert (stored.ticket_id, stored.raw, stored.via, stored.radius_m) == (None, text, "sms", 52.0)


async def test_old_ticket_outside_the_window_is_not_matched_the_newest_in_it_is(
    sender: httpx.AsyncClient, make_ticket: MakeTicket
) -> None:
    number = new_number()
    await make_ticket(caller_number=number, created_at=utcnow() - timedelta(hours=2))
    r = await sender.post("/aml/sms", json=sms(number))
    assert r.json()["ticket_id"] is None

    older = await make_ticket(caller_number=number, created_at=utcnow() - timedelta(minutes=20))
    newer = await make_ticket(caller_number=number, created_at=utcnow() - timedelta(minutes=5))
    r = await sender.post("/aml/sms", json=sms(number))
    assert r.json()["ticket_id"] == newer.id != older.id


async def test_malformed_message_is_refused_with_its_reason(sender: httpx.AsyncClient) -> None:
    r = await sender.post(
        "/aml/sms", json={"sender": new_number(), "text": 'A"ML=1;lt=95.0;lg=104.8;rd=5'}
    )
    assert r.status_code == 422
    body = r.json()
    assert body["error_id"] == "aml-invalid"
    assert body["details"] == {"reason": "out-of-range", "field": "lt"}

    r = await sender.post("/aml/https", content=b"\xff\xfe", headers={"Content-Type": FORM})
    assert (r.status_code, r.json()["error_id"]) == (422, "aml-invalid")


async def _positions(engine: AsyncEngine, number: str) -> list[AmlPosition]:
    async with AsyncSession(engine) as s:
        return list(await s.scalars(select(AmlPosition).where(AmlPosition.caller_number == number)))
