"""The gateway's heartbeat: every few seconds it writes whether its AMI link is up, how many call
facts wait in its local spool and how many AGI sessions are in flight (``services.health``). The
API's ``/health/ready`` reads it; a heartbeat that stops coming means the gateway is down, or
cannot reach the database (then its spool grows, and says so once the database is back)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from core.timeutil import utcnow
from services import health

if TYPE_CHECKING:
    from gateway.main import Gateway

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0


def spool_lines(directory: Path) -> int:
    """Call facts waiting in the spool folder (journal lines not yet in the database)."""
    if not directory.exists():
        return 0
    count = 0
    for path in directory.iterdir():
        if path.name == "rejected.log" or not path.is_file():
            continue
        try:
            with path.open("rb") as f:
                count += sum(1 for line in f if line.strip())
        except OSError:
            continue
    return count


async def run(gateway: Gateway) -> None:
    name = f"{socket.gethostname()}:{os.getpid()}"
    started = utcnow()
    while not gateway.stopping.is_set():
        try:
            pending = await asyncio.to_thread(spool_lines, gateway.settings.spool_dir)
            async with gateway.sessionmaker() as session, session.begin():
                await health.beat(
                    session,
                    name,
                    ami_connected=bool(gateway.ami and gateway.ami.logged_in),
                    spool_pending=pending,
                    agi_in_flight=gateway.route.in_flight if gateway.route else 0,
                    started_at=started,
                    calltakers_paused=gateway.ami.paused_count if gateway.ami else 0,
                )
        except Exception as exc:
            log.warning("heartbeat not written (%s)", type(exc).__name__)
        try:
            await asyncio.wait_for(gateway.stopping.wait(), INTERVAL_SECONDS)
        except TimeoutError:
            pass
