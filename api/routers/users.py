"""Managing users: admins only."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Admin, EntityId, Session
from services.users import service as users
from services.users.schemas import UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=list[UserRead])
async def list_users(_: Admin, session: Session) -> list[dict[str, object]]:
    return [users.public(u) for u in await users.list_users(session)]


@router.post("", response_model=UserRead, status_code=201)
async def create_user(body: UserCreate, admin: Admin, session: Session) -> dict[str, object]:
    user = await users.create_user(session, actor=admin.username, **body.model_dump())
    await session.commit()
    return users.public(user)


@router.get("/{user_id}", response_model=UserRead)
async def get_user(user_id: EntityId, _: Admin, session: Session) -> dict[str, object]:
    return users.public(await users.get_user(session, user_id))


@router.patch("/{user_id}", response_model=UserRead)
async def update_user(
    user_id: EntityId, body: UserUpdate, admin: Admin, session: Session
) -> dict[str, object]:
    user = await users.update_user(
        session, user_id, actor=admin.username, changes=body.model_dump(exclude_unset=True)
    )
    await session.commit()
    return users.public(user)
