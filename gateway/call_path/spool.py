"""The local spool: call facts the database could not take, kept on disk until it can.

An append-only journal of JSON lines under ``settings.spool_dir``: each line is in the kernel before
the gateway goes on (it survives the gateway being killed) and on disk (fsync, in a worker thread,
shared by the lines appended meanwhile) a moment later. The replayer seals the live journal (renames
it) and applies the sealed files in order; a file is deleted only once every fact in it is in the
database. Applying a fact is idempotent, so a file replayed twice (a crash mid-replay) does no harm.

Other writers (the classic AGI script ``agi_scripts/spool_call.py``, when the gateway is down) drop
their own ``*.jsonl`` files in the same folder; the replayer takes them too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from services.calls.facts import CallFact

log = logging.getLogger(__name__)

LIVE_NAME = "journal.live"  # not *.jsonl: the replayer never reads a file still being written
SEALED_PREFIX = "journal-"
SUFFIX = ".jsonl"


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:
        log.exception("spool fsync failed")
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._file: IO[str] | None = None
        self._live_lines = 0
        self._fsync_pending = False
        self._fsync_running = False
        self._fsync_again = False

    @property
    def live_path(self) -> Path:
        return self.directory / LIVE_NAME

    def append(self, fact: CallFact) -> None:
        """Write ``fact`` to the journal: in the kernel before returning, on disk a moment later."""
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = self.live_path.open("a", encoding="utf-8")
        line = json.dumps(fact.to_json(), separators=(",", ":"), default=str)
        self._file.write(line + "\n")
        self._file.flush()  # in the kernel now: survives the gateway being killed
        self._live_lines += 1
        self._schedule_fsync()
        log.warning("spooled %s fact for uniqueid=%s", fact.kind, fact.uniqueid)

    def _schedule_fsync(self) -> None:
        """fsync in a worker thread, once for every fact appended meanwhile (a burst of spooled
        calls costs a few disk flushes, none of them on the event loop); at once outside a loop."""
        if self._fsync_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.fsync()
            return
        self._fsync_pending = True
        loop.call_soon(self._fsync_in_thread, loop)

    def _fsync_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        self._fsync_pending = False
        if self._file is None or self._fsync_running:
            self._fsync_again = self._file is not None
            return
        self._fsync_running = True
        # a duplicate descriptor: the journal may be sealed and closed while the thread flushes
        future = loop.run_in_executor(None, _fsync_and_close, os.dup(self._file.fileno()))
        future.add_done_callback(lambda _: self._fsync_done(loop))

    def _fsync_done(self, loop: asyncio.AbstractEventLoop) -> None:
        self._fsync_running = False
        if self._fsync_again:
            self._fsync_again = False
            self._fsync_in_thread(loop)

    def fsync(self) -> None:
        self._fsync_pending = False
        if self._file is not None:
            try:
                os.fsync(self._file.fileno())
            except OSError:
                log.exception("spool fsync failed")

    def reject(self, fact: CallFact) -> None:
        """Keep a fact the database refused, for a person to look at."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "rejected.log").open("a", encoding="utf-8") as f:
            f.write(json.dumps(fact.to_json(), default=str) + "\n")

    def seal(self) -> None:
        """Close the live journal and make it a sealed file the replayer takes."""
        if self._file is not None:
            self.fsync()
            self._file.close()
            self._file = None
        live = self.live_path
        if live.exists() and live.stat().st_size > 0:
            live.rename(self.directory / f"{SEALED_PREFIX}{time.time_ns():020d}{SUFFIX}")
        self._live_lines = 0

    def close(self) -> None:
        if self._file is not None:
            self.fsync()
            self._file.close()
            self._file = None

    def sealed_files(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(
            self.directory.glob(f"*{SUFFIX}"), key=lambda p: (p.stat().st_mtime_ns, p.name)
        )

    def pending(self) -> bool:
        return (
            self._live_lines > 0
            or bool(self.sealed_files())
            or (self.live_path.exists() and self.live_path.stat().st_size > 0)
        )

    async def replay(self, apply: Callable[[CallFact], Awaitable[None]]) -> int:
        """Apply every spooled fact in order; returns how many. Raises when ``apply`` fails:
        the file stays and is replayed whole next time."""
        self.seal()
        count = 0
        for path in self.sealed_files():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    fact = CallFact.from_json(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("spool %s line %d unreadable, skipped: %s", path.name, number, exc)
                    continue
                await apply(fact)
                count += 1
            path.unlink()
            log.info("spool file %s replayed into the database", path.name)
        return count
