"""Logging in: a bearer token for a username and password."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request

from api.deps import CurrentPrincipal, Session, get_settings_dep
from core.errors import ValidationFailed
from core.settings import Settings
from services.users import service as users
from services.users.auth import issue_token
from services.users.schemas import LoginJson, Token, UserRead

router = APIRouter(prefix="/auth", tags=["auth"])
MAX_LOGIN_BODY = 4096


async def _credentials(request: Request) -> LoginJson:
    """Accept the OAuth2 password form (browsers, tools) or a JSON body."""
    body = await request.body()
    try:
        if len(body) > MAX_LOGIN_BODY:
            raise ValueError("too large")
        if request.headers.get("content-type", "").startswith("application/json"):
            return LoginJson.model_validate_json(body)
        form = parse_qs(body.decode(), max_num_fields=10)
        return LoginJson(
            username=form.get("username", [""])[0], password=form.get("password", [""])[0]
        )
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "Nama pengguna dan kata sandi wajib diisi / username and password are required",
            {"fields": [{"field": "username"}, {"field": "password"}]},
        ) from exc


@router.post(
    "/token",
    response_model=Token,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {
                            "username": {"type": "string"},
                            "password": {"type": "string"},
                        },
                    }
                },
                "application/json": {"schema": LoginJson.model_json_schema()},
            },
            "required": True,
        }
    },
)
async def token(
    request: Request, session: Session, settings: Annotated[Settings, Depends(get_settings_dep)]
) -> Token:
    creds = await _credentials(request)
    user = await users.authenticate(session, creds.username, creds.password)
    await session.commit()
    assert settings.api.jwt_secret is not None
    principal = users.principal_of(user)
    return Token(
        access_token=issue_token(
            principal, settings.api.jwt_secret.get_secret_value(), settings.api.token_minutes
        ),
        expires_in=settings.api.token_minutes * 60,
        role=principal.role,
        username=principal.username,
    )


@router.get("/me", response_model=UserRead)
async def me(principal: CurrentPrincipal, session: Session) -> dict[str, object]:
    return users.public(await users.get_user(session, principal.user_id))
