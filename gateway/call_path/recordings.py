"""A call's recording on disk: where it is and how long it lasts.

MixMonitor writes ``<recordings_dir>/YYYY/MM/DD/<UNIQUEID>.wav`` and finishes the file shortly after
the caller's channel hangs up; the length is read once the file stops growing.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.settings import Settings

log = logging.getLogger(__name__)


def wav_seconds(path: Path) -> float | None:
    """The length of a PCM WAV file in seconds, from its format chunk and the data on disk (the
    header's data size may be unset while the file was being written)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, 0
    while offset + 8 <= len(head):
        chunk, length = (
            head[offset : offset + 4],
            struct.unpack("<I", head[offset + 4 : offset + 8])[0],
        )
        body = offset + 8
        if chunk == b"fmt " and body + 16 <= len(head):
            byte_rate = struct.unpack("<I", head[body + 8 : body + 12])[0]
        elif chunk == b"data":
            available = size - body
            data_bytes = min(length, available) if length else available
            return round(data_bytes / byte_rate, 2) if byte_rate else None
        offset = body + length + (length & 1)
    return None


def candidate_names(uniqueid: str, known: str | None) -> list[str]:
    """Names the recording may have: the one the dialplan told us, else ``YYYY/MM/DD/<id>.wav``
    for the day the unique id's epoch falls on (and the next day, for calls across midnight)."""
    if known:
        return [known]
    try:
        started = datetime.fromtimestamp(float(uniqueid.rsplit("-", 1)[-1]), UTC)
    except (ValueError, OverflowError, OSError):
        return []
    days = (started, started + timedelta(days=1))
    return [f"{d:%Y/%m/%d}/{uniqueid}.wav" for d in days]


async def finished_recording(
    settings: Settings,
    uniqueid: str,
    known: str | None,
    wait_seconds: float = 15.0,
    poll: float = 0.5,
) -> tuple[str, float] | None:
    """Wait until the recording stops growing; its name and length, or None if there is none."""
    names = candidate_names(uniqueid, known)
    last_size = -1
    waited = 0.0
    while waited <= wait_seconds:
        for name in names:
            path = settings.asterisk_host_path(f"{settings.recordings_dir}/{name}")
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size == last_size:
                seconds = wav_seconds(path)
                return name, seconds if seconds is not None else 0.0
            last_size = size
            break
        await asyncio.sleep(poll)
        waited += poll
    log.warning("no finished recording for uniqueid=%s (tried %s)", uniqueid, names)
    return None
