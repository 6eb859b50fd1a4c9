"""Advanced Mobile Location in: ``POST /aml/https`` (the phone's HTTPS form, relayed by the
operator) and ``POST /aml/sms`` (an AML SMS forwarded by the operator's SMS gateway).

Senders are no users: they present the shared secret ``SIAGA_AML__TOKEN`` as a bearer token.
Without that setting AML reception is off: a sender presenting a token gets 404 ``aml-off``
(without one, 401 as for every endpoint)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Session
from core.errors import NotFound, SiagaError, Unauthenticated
from core.settings import AmlSettings, Settings
from services.aml import parse as parsing
from services.aml import service as aml

router = APIRouter(prefix="/aml", tags=["aml"])
_bearer = HTTPBearer(auto_error=False)
MAX_BODY = 8192  # bytes of an HTTPS form: real ones are under 1 KB


class AmlOff(NotFound):
    error_id = "aml-off"


class AmlInvalid(SiagaError):
    status_code = 422
    error_id = "aml-invalid"


class AmlTooLarge(SiagaError):
    status_code = 413
    error_id = "payload-too-large"


def aml_settings(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AmlSettings:
    """AML's settings, for a sender that presented the shared secret (constant-time check).
    A request without a token is refused as every unauthenticated request is, AML on or off; a
    sender with a token learns that reception is off."""
    settings: Settings = request.app.state.settings
    if credentials is None:
        raise Unauthenticated("Token AML diperlukan / AML token required")
    if settings.aml.token is None:
        raise AmlOff("Penerimaan AML tidak aktif / AML reception is off")
    expected = settings.aml.token.get_secret_value().encode()
    if not hmac.compare_digest(credentials.credentials.encode(), expected):
        raise Unauthenticated("Token AML salah / wrong AML token")
    return settings.aml


Sender = Annotated[AmlSettings, Depends(aml_settings)]


class SmsIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    sender: str = Field(min_length=1, max_length=64)  # the SMS's originating number
    text: str = Field(min_length=1, max_length=parsing.MAX_TEXT)


@router.post("/https", status_code=201)
async def receive_https(request: Request, settings: Sender, session: Session) -> dict[str, Any]:
    """The HTTPS form (``application/x-www-form-urlencoded``) as the phone sent it."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise AmlTooLarge(f"Data terlalu besar / over {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise AmlInvalid("Bukan UTF-8 / not UTF-8", {"reason": "malformed"}) from None
    return await _receive(session, settings, lambda: parsing.parse_https(text))


@router.post("/sms", status_code=201)
async def receive_sms(body: SmsIn, settings: Sender, session: Session) -> dict[str, Any]:
    """An AML SMS: its sender's number and its text."""
    return await _receive(session, settings, lambda: parsing.parse_sms(body.sender, body.text))


async def _receive(
    session: Session, settings: AmlSettings, parse: Callable[[], parsing.AmlMessage]
) -> dict[str, Any]:
    try:
        message = parse()
    except parsing.AmlRejected as exc:
        raise AmlInvalid(
            f"Pesan AML tidak valid / invalid AML message: {exc.message}",
            {"reason": exc.reason, "field": exc.field},
        ) from None
    position, ticket = await aml.receive(session, message, settings)
    await session.commit()
    return {
        "id": position.id,
        "ticket_id": ticket.id if ticket else None,
        "ticket_number": ticket.number if ticket else None,
    }
