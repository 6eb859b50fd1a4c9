from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from core.names import Role

USERNAME = r"^[a-z0-9][a-z0-9._-]{1,63}$"


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    role: Role
    username: str


class LoginJson(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME)
    password: str = Field(min_length=10, max_length=256)
    role: Role
    full_name: str = Field(default="", max_length=200)
    sip_account: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    agency_id: int | None = Field(default=None, ge=1, le=2**62)
    language: str = Field(default="id", pattern="^(id|en)$")


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, min_length=10, max_length=256)
    sip_account: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    language: str | None = Field(default=None, pattern="^(id|en)$")
    active: bool | None = None


class UserRead(BaseModel):
    id: int
    username: str
    full_name: str
    role: Role
    sip_account: str | None
    agency_id: int | None
    language: str
    active: bool
    last_login_at: datetime | None
    created_at: datetime | None
