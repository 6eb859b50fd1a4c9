"""People who use the centre's API: admins, supervisors, call takers and agency staff."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from core.names import Role
from core.timeutil import utcnow
from models import Agency, User
from services import audit
from services.users.auth import Principal, hash_password, verify_password

# Verifying against this when the user does not exist keeps the answer time the same (no user
# enumeration by timing).
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        agency_id=user.agency_id,
        sip_account=user.sip_account,
    )


def public(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "sip_account": user.sip_account,
        "agency_id": user.agency_id,
        "language": user.language,
        "active": user.active,
        "last_login_at": user.last_login_at,
        "created_at": user.created_at,
    }


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)
        raise _bad_login()
    if not verify_password(user.password_hash, password):
        raise _bad_login()
    user.last_login_at = utcnow()
    return user


def _bad_login() -> Unauthenticated:
    error = Unauthenticated("Nama pengguna atau kata sandi salah / wrong username or password")
    error.error_id = "invalid-credentials"
    return error


def _check_role_fields(role: Role, sip_account: str | None, agency_id: int | None) -> None:
    if role is Role.AGENCY and agency_id is None:
        raise ValidationFailed(
            "Pengguna instansi perlu instansi / an agency user needs an agency",
            {"fields": [{"field": "agency_id", "message": "required for role agency"}]},
        )
    if role is not Role.AGENCY and agency_id is not None:
        raise ValidationFailed(
            "Hanya pengguna instansi yang punya instansi / only agency users have an agency",
            {"fields": [{"field": "agency_id", "message": "only for role agency"}]},
        )


async def create_user(
    session: AsyncSession,
    *,
    actor: str,
    username: str,
    password: str,
    role: Role,
    full_name: str = "",
    sip_account: str | None = None,
    agency_id: int | None = None,
    language: str = "id",
) -> User:
    _check_role_fields(role, sip_account, agency_id)
    if agency_id is not None and await session.get(Agency, agency_id) is None:
        raise ValidationFailed(
            "Instansi tidak dikenal / unknown agency",
            {"fields": [{"field": "agency_id", "message": "unknown agency"}]},
        )
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict("Nama pengguna sudah dipakai / username taken", {"username": username})
    user = User(
        username=username,
        full_name=full_name,
        role=role.value,
        password_hash=hash_password(password),
        sip_account=sip_account,
        agency_id=agency_id,
        language=language,
        active=True,
    )
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="user.create",
        entity="user",
        entity_id=user.id,
        after={
            "username": username,
            "role": role.value,
            "sip_account": sip_account,
            "agency_id": agency_id,
        },
    )
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("Pengguna tidak ditemukan / user not found", {"user_id": user_id})
    return user


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.username))).all()


async def update_user(
    session: AsyncSession, user_id: int, *, actor: str, changes: dict[str, object]
) -> User:
    user = await get_user(session, user_id)
    if changes.get("active") is False and user.username == actor:
        error = Conflict(
            "Anda tidak bisa menonaktifkan akun sendiri / you cannot deactivate yourself",
            {"user_id": user_id},
        )
        error.error_id = "cannot-deactivate-self"
        raise error
    new_password = changes.pop("password", None)
    before = {k: getattr(user, k) for k in changes}
    after = dict(changes)
    for key, value in changes.items():
        setattr(user, key, value)
    if new_password is not None:
        user.password_hash = hash_password(str(new_password))
        after["password_changed"] = True  # the audit log never holds a password
    _check_role_fields(Role(user.role), user.sip_account, user.agency_id)
    await audit.record(
        session,
        actor=actor,
        action="user.update",
        entity="user",
        entity_id=user.id,
        before=before,
        after=after,
    )
    return user


async def ensure_admin(session: AsyncSession, username: str, password: str) -> bool:
    """Create the first admin if no admin exists. True when one was created."""
    existing = await session.scalar(select(User.id).where(User.role == Role.ADMIN.value).limit(1))
    if existing is not None:
        return False
    await create_user(
        session,
        actor="system",
        username=username,
        password=password,
        role=Role.ADMIN,
        full_name="Administrator",
    )
    return True
