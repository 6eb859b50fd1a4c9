"""The reconciliation worker: at start and then periodically, every call Asterisk recorded in its
own CDR and queue log gets its complete ticket (``services.reconcile``).

A call that ended before this gateway started is reconciled at once; a later one only once it has
been over for ``SETTLE_SECONDS`` (the live AMI path, and the recording's length, get there first
in the normal case, and reconciliation then finds nothing to do). Nothing here holds state that
matters: a pass that fails (database down) is simply done again on the next round.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

from core.names import CallDirection, CallEventKind
from core.settings import Settings
from core.timeutil import utcnow
from gateway.recordings import wav_seconds
from services import reconcile
from services.calls import CallFact

if TYPE_CHECKING:
    from gateway.main import Gateway

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 10.0
SETTLE_SECONDS = 20.0
# An open call Asterisk no longer has is closed after this long (it cannot still be arriving).
LOST_AFTER_SECONDS = 15.0
LOST_TEXT = "lost: not in Asterisk (restarted?)"
CDR_FILE = "log/cdr-custom/siaga112.csv"
QUEUE_LOG = "log/queue_log"


def _read(settings: Settings, relative: str) -> str:
    path = settings.asterisk_host_path(f"{settings.asterisk.instance_dir.rstrip('/')}/{relative}")
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def asterisk_calls(settings: Settings) -> dict[str, reconcile.AsteriskCall]:
    calls = reconcile.parse_cdr(_read(settings, CDR_FILE))
    reconcile.apply_queue_log(calls, _read(settings, QUEUE_LOG))
    return calls


def _recording_seconds(settings: Settings, name: str | None) -> float | None:
    if not name:
        return None
    return wav_seconds(settings.asterisk_host_path(f"{settings.recordings_dir}/{name}"))


async def reconcile_once(
    gateway: Gateway, started_at: datetime | None = None, settle: float = 0.0
) -> int:
    """One pass; returns how many calls were completed or created. Raises if the database fails
    (the caller tries again later)."""
    settings = gateway.settings
    calls = await asyncio.to_thread(asterisk_calls, settings)
    horizon = utcnow() - timedelta(seconds=settle)
    ripe = [
        c
        for c in calls.values()
        if c.end is not None
        and (c.end <= horizon or (started_at is not None and c.end <= started_at))
    ]
    if not ripe:
        return await close_lost_calls(gateway, set(calls))
    async with gateway.sessionmaker() as session:
        todo = await reconcile.needs_work(session, ripe)
    for call in todo:
        seconds = await asyncio.to_thread(_recording_seconds, settings, call.recording)
        facts: list[CallFact] = reconcile.facts_for(call, seconds)
        for fact in facts:
            await gateway.store.apply(fact)
        async with gateway.sessionmaker() as session, session.begin():
            await reconcile.fill_ticket_caller(session, call.uniqueid)
        log.info(
            "reconciled uniqueid=%s from Asterisk's records (%d facts, recording=%s)",
            call.uniqueid,
            len(facts),
            call.recording or "-",
        )
    if todo:
        log.info("reconciliation completed %d of %d calls Asterisk recorded", len(todo), len(calls))
    return len(todo) + await close_lost_calls(gateway, set(calls))


_OPEN_CALLS = text(
    "SELECT uniqueid FROM calls WHERE ended_at IS NULL AND direction = :inbound "
    "AND COALESCE(arrived_at, queued_at) < now() - make_interval(secs => :settle)"
)


async def live_uniqueids(gateway: Gateway) -> set[str] | None:
    """The channels Asterisk has now (None when the AMI link is down: nothing is concluded)."""
    ami = gateway.ami
    if ami is None or not ami.logged_in or ami.manager is None:
        return None
    reply = await asyncio.wait_for(
        ami.manager.send_action({"Action": "CoreShowChannels"}, as_list=True), 10
    )
    if not isinstance(reply, list):
        return None
    if not any(m.get("Event") == "CoreShowChannelsComplete" for m in reply):
        return None
    return {str(m.get("Uniqueid")) for m in reply if m.get("Event") == "CoreShowChannel"}


async def close_lost_calls(gateway: Gateway, recorded: set[str]) -> int:
    """Calls still open in the database that Asterisk no longer has and never wrote a CDR for
    (cut by an Asterisk restart or crash): ended now, as dropped."""
    live = await live_uniqueids(gateway)
    if live is None:
        return 0
    async with gateway.sessionmaker() as session:
        rows = await session.execute(
            _OPEN_CALLS,
            {"inbound": CallDirection.INBOUND.value, "settle": LOST_AFTER_SECONDS},
        )
        open_calls = [r.uniqueid for r in rows]
    lost = [u for u in open_calls if u not in live and u not in recorded]
    now = utcnow()
    for uniqueid in lost:
        await gateway.store.apply(
            CallFact(
                CallEventKind.ENDED.value,
                uniqueid,
                now,
                {"hangup_cause_text": LOST_TEXT, "source": reconcile.SOURCE},
                may_create=False,
            )
        )
        log.warning("uniqueid=%s no longer in Asterisk and not in its CDR: ended as lost", uniqueid)
    return len(lost)


async def run(gateway: Gateway) -> None:
    """Worker: a pass at start (calls that ended while the gateway was away), then periodically."""
    started_at = utcnow()
    while not gateway.stopping.is_set():
        try:
            await reconcile_once(gateway, started_at, SETTLE_SECONDS)
        except Exception as exc:
            log.warning(
                "reconciliation pass failed (%s: %.200s); next in %.0f s",
                type(exc).__name__,
                exc,
                INTERVAL_SECONDS,
            )
        try:
            await asyncio.wait_for(gateway.stopping.wait(), INTERVAL_SECONDS)
        except TimeoutError:
            pass
