"""Request dependencies: the database session and the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden, Unauthenticated
from core.names import Role
from core.settings import Settings
from models import User
from services.users.auth import Principal, read_token

_bearer = HTTPBearer(auto_error=False)


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[AsyncSession, Depends(get_session)],
) -> Principal:
    """The caller of a request, from a bearer token (header, or ``?access_token=`` for
    EventSource and audio elements).

    Tokens live for hours, so each request also asks the database whether the user still is who
    the token says: a user deactivated, given another role or moved to another agency since the
    token was issued is refused at once, and so is a token naming no user at all.
    """
    token = credentials.credentials if credentials else request.query_params.get("access_token")
    if not token:
        raise Unauthenticated("Perlu login / authentication required")
    settings: Settings = request.app.state.settings
    assert settings.api.jwt_secret is not None
    principal = read_token(token, settings.api.jwt_secret.get_secret_value())
    if not 0 < principal.user_id < 2**63:
        raise Unauthenticated("Token tidak berlaku lagi / token no longer valid")
    row = (
        await session.execute(
            select(User.username, User.active, User.role, User.agency_id).where(
                User.id == principal.user_id
            )
        )
    ).one_or_none()
    if (
        row is None
        or not row.active
        or row.username != principal.username
        or row.role != principal.role.value
        or row.agency_id != principal.agency_id
    ):
        raise Unauthenticated("Token tidak berlaku lagi / token no longer valid")
    return principal


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets only ``roles`` through (admin always passes)."""

    async def _check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role is not Role.ADMIN and principal.role not in roles:
            raise Forbidden("Peran Anda tidak diizinkan / your role may not do this")
        return principal

    return _check


Session = Annotated[AsyncSession, Depends(get_session)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CentreStaff = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.CALLTAKER))]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[Principal, Depends(require())]
AgencyUser = Annotated[Principal, Depends(require(Role.AGENCY))]

# Every id in a path: a positive BIGINT, refused at the edge before it reaches the database.
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1)]
