"""The reconciliation worker: at start and then periodically, every call Asterisk recorded in its
own CDR and queue log gets its complete ticket (``services.calls.reconcile``).

A call that ended before this gateway started is reconciled at once; a later one only once it has
been over for ``SETTLE_SECONDS`` (the live AMI path, and the recording's length, get there first
in the normal case, and reconciliation then finds nothing to do). The files are read whole at
start, then only what Asterisk added since, so a round costs the same after a year of calls as on
the first day. A call leaves the worker's memory only once its ticket is complete: a pass that
fails (database down) is simply done again on the next round.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text

from core.names import CallDirection, CallEventKind
from core.settings import Settings
from core.timeutil import utcnow
from gateway.call_path.recordings import wav_seconds
from services.calls import reconcile
from services.calls.facts import CallFact

if TYPE_CHECKING:
    from gateway.main import Gateway

log = logging.getLogger(__name__)

SETTLE_SECONDS = 20.0
# An open call Asterisk no longer has is closed after this long (it cannot still be arriving).
LOST_AFTER_SECONDS = 15.0
LOST_TEXT = "lost: not in Asterisk (restarted?)"
CDR_FILE = "log/cdr-custom/siaga112.csv"
QUEUE_LOG = "log/queue_log"


# Queue log lines of a caller whose CDR line has not come are kept this long (no call lasts
# longer; lines of channels that never end as 112 calls are let go then).
QUEUE_LINES_KEEP_SECONDS = 24 * 3600.0
# Calls asked about in one query.
NEEDS_WORK_BATCH = 1000


class LogTail:
    """An append-only log file read a piece at a time: each read returns the complete lines added
    since the last one. A file replaced (rotated) or cut shorter is read again from its start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inode: int | None = None
        self.offset = 0

    def read_new(self) -> str:
        try:
            with self.path.open("rb") as f:
                info = os.fstat(f.fileno())
                if info.st_ino != self.inode or info.st_size < self.offset:
                    self.inode, self.offset = info.st_ino, 0
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return ""
        complete = data.rfind(b"\n") + 1  # a line still being written waits for the next read
        self.offset += complete
        return data[:complete].decode("utf-8", errors="replace")


class AsteriskRecords:
    """Asterisk's CDR and queue log, read incrementally: the calls recorded there and not reconciled
    yet (``forget``), each with its queue outcome. The first read takes the whole files (calls that
    ended while no gateway ran); later reads only what was added."""

    def __init__(self, settings: Settings) -> None:
        base = settings.asterisk.instance_dir.rstrip("/")
        self.cdr = LogTail(settings.asterisk_host_path(f"{base}/{CDR_FILE}"))
        self.queue_log = LogTail(settings.asterisk_host_path(f"{base}/{QUEUE_LOG}"))
        self.calls: dict[str, reconcile.AsteriskCall] = {}
        self._queue_lines: dict[str, list[str]] = {}
        self._queue_seen: dict[str, float] = {}

    def read(self) -> dict[str, reconcile.AsteriskCall]:
        reconcile.parse_cdr(self.cdr.read_new(), self.calls)
        now = time.monotonic()
        for line in self.queue_log.read_new().splitlines():
            callid = reconcile.queue_log_callid(line)
            if callid is not None:
                self._queue_lines.setdefault(callid, []).append(line)
                self._queue_seen[callid] = now
        for uniqueid, call in self.calls.items():
            lines = self._queue_lines.get(uniqueid)
            if lines:
                reconcile.apply_queue_log({uniqueid: call}, "\n".join(lines))
        for callid, seen in list(self._queue_seen.items()):
            if now - seen > QUEUE_LINES_KEEP_SECONDS and callid not in self.calls:
                del self._queue_seen[callid], self._queue_lines[callid]
        return self.calls

    def forget(self, uniqueids: Iterable[str]) -> None:
        """These calls' tickets are complete: forget them."""
        for uniqueid in uniqueids:
            self.calls.pop(uniqueid, None)
            self._queue_lines.pop(uniqueid, None)
            self._queue_seen.pop(uniqueid, None)


def _recording_seconds(settings: Settings, name: str | None) -> float | None:
    if not name:
        return None
    return wav_seconds(settings.asterisk_host_path(f"{settings.recordings_dir}/{name}"))


async def reconcile_once(
    gateway: Gateway,
    records: AsteriskRecords,
    started_at: datetime | None = None,
    settle: float = 0.0,
) -> int:
    """One pass; returns how many calls were completed or created. Raises if the database fails
    (the caller tries again later: calls are forgotten only once their tickets are complete)."""
    calls = await asyncio.to_thread(records.read)
    recorded = set(calls)
    horizon = utcnow() - timedelta(seconds=settle)
    ripe = [
        c
        for c in calls.values()
        if c.end is not None
        and (c.end <= horizon or (started_at is not None and c.end <= started_at))
    ]
    done = 0
    for start in range(0, len(ripe), NEEDS_WORK_BATCH):
        batch = ripe[start : start + NEEDS_WORK_BATCH]
        async with gateway.sessionmaker() as session:
            todo = await reconcile.needs_work(session, batch)
        await _complete(gateway, todo)
        records.forget(c.uniqueid for c in batch)
        done += len(todo)
    if done:
        log.info("reconciliation completed %d of %d calls Asterisk recorded", done, len(ripe))
    return done + await close_lost_calls(gateway, recorded)


async def _complete(gateway: Gateway, todo: list[reconcile.AsteriskCall]) -> None:
    settings = gateway.settings
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
    """Worker: a pass at start (calls that ended while the gateway was away), then every
    ``reconcile_seconds`` (none when it is 0)."""
    started_at = utcnow()
    records = AsteriskRecords(gateway.settings)
    interval = gateway.settings.asterisk.reconcile_seconds
    while not gateway.stopping.is_set():
        try:
            await reconcile_once(gateway, records, started_at, SETTLE_SECONDS)
        except Exception as exc:
            log.warning(
                "reconciliation pass failed (%s: %.200s); next in %.0f s",
                type(exc).__name__,
                exc,
                interval,
            )
        try:
            await asyncio.wait_for(gateway.stopping.wait(), interval if interval > 0 else None)
        except TimeoutError:
            pass
