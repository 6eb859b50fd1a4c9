"""Passwords (argon2id) and API tokens (signed JWT)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import Unauthenticated
from core.names import Role
from core.timeutil import utcnow

_hasher = PasswordHasher()
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the API."""

    user_id: int
    username: str
    role: Role
    agency_id: int | None = None
    sip_account: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(principal: Principal, secret: str, minutes: int) -> str:
    now = utcnow()
    claims = {
        "sub": str(principal.user_id),
        "usr": principal.username,
        "role": principal.role.value,
        "agency": principal.agency_id,
        "sip": principal.sip_account,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_token(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
        )
        return Principal(
            user_id=int(claims["sub"]),
            username=str(claims["usr"]),
            role=Role(claims["role"]),
            agency_id=claims.get("agency"),
            sip_account=claims.get("sip"),
        )
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise Unauthenticated(
            "Token tidak valid atau kedaluwarsa / invalid or expired token"
        ) from exc
