"""A call's recording, for centre staff only (never agencies); every download is audited.

The address is ``/tickets/{ticket_id}/calls/{call_id}/recording``; ``/recordings/{call_id}`` is the
same download by call id alone (the consoles' audio element uses it with ``?access_token=``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CentreStaff, EntityId, Session, get_settings_dep
from core.errors import NotFound
from core.settings import Settings
from models import Call
from services import audit
from services.users.auth import Principal

router = APIRouter(tags=["recordings"])

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,200}\.wav$")


def recording_file(settings: Settings, name: str) -> Path | None:
    """The host path of a recording, or None for a name that could leave the recordings folder."""
    if not SAFE_NAME.match(name) or ".." in name.split("/"):
        return None
    folder = settings.asterisk_host_path(settings.recordings_dir).resolve()
    path = (folder / name).resolve()
    return path if path.is_relative_to(folder) else None


async def _send(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    call_id: int,
    ticket_id: int | None,
) -> FileResponse:
    call = await session.get(Call, call_id)
    if call is not None and ticket_id is not None and call.ticket_id != ticket_id:
        call = None  # a call of another ticket: as if it did not exist
    path = recording_file(settings, call.recording_path) if call and call.recording_path else None
    if call is None or path is None or not path.is_file():
        raise NotFound(
            "Rekaman tidak ditemukan / recording not found",
            {"call_id": call_id, "ticket_id": ticket_id},
        )
    await audit.record(
        session,
        actor=principal.username,
        action="recording.download",
        entity="call",
        entity_id=call.id,
        after={"ticket_id": call.ticket_id, "recording": call.recording_path},
    )
    await session.commit()
    return FileResponse(path, media_type="audio/wav", filename=f"call-{call.id}.wav")


@router.get("/tickets/{ticket_id}/calls/{call_id}/recording", response_class=FileResponse)
async def ticket_call_recording(
    ticket_id: EntityId,
    call_id: EntityId,
    principal: CentreStaff,
    session: Session,
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> FileResponse:
    return await _send(session, settings, principal, call_id, ticket_id)


@router.get("/recordings/{call_id}", response_class=FileResponse)
async def download(
    call_id: EntityId,
    principal: CentreStaff,
    session: Session,
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> FileResponse:
    return await _send(session, settings, principal, call_id, None)
