"""The call path's arrival writer, for the arrivals a caller waits for (the caller may have triage
history, or no ticket id was drawn ahead; the others go behind the answer,
``gateway.call_path.fact_writer``). Arrivals that come in while a write runs go together as the next
batch (``services.calls.arrivals.arrive_many``) on the call path's own connections
(``gateway.call_path.pg``).

Alone, an arrival is written at once, a batch of one. In a surge each write takes everything that
queued meanwhile (up to ``MAX_BATCH``), so the database pays one statement and one commit per batch
instead of per call; one batch runs per connection of the pool. Nothing waits for a batch to fill.

An arrival is an ``Entry``: ``taken`` once a batch holds it (from then on the database has it);
until then the store may ``withdraw`` it (its bound ran out while it queued) and spool it instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from core.rows import PgRows
from gateway.call_path.pg import CallPathPool
from services.calls.arrivals import arrive_many
from services.calls.facts import CallFact, FactResult

log = logging.getLogger(__name__)

# Arrivals in one statement at most (a surge of a thousand a second makes batches of tens).
MAX_BATCH = 64


@dataclass(eq=False, slots=True)
class Entry:
    fact: CallFact
    done: asyncio.Future[FactResult]
    taken: bool = False


@dataclass(slots=True)
class _Stats:
    batches: int = 0
    arrivals: int = 0
    largest: int = 0
    batch_seconds: float = 0.003  # running mean of a batch's write time


class ArrivalWriter:
    def __init__(self, pool: CallPathPool, max_batch: int = MAX_BATCH) -> None:
        self.pool = pool
        self.writers = pool.size
        self.max_batch = max_batch
        self.stats = _Stats()
        self._queue: deque[Entry] = deque()
        # writers at work: counted in their own code, not by a done callback, which runs a loop
        # turn late (an arrival submitted in between would find no writer coming for it)
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()  # set while no arrival is queued or being written
        self._idle.set()

    def submit(self, fact: CallFact) -> Entry:
        """Queue ``fact`` (an arrival) for the next batch; its result comes on ``entry.done``."""
        entry = Entry(fact, asyncio.get_running_loop().create_future())
        self._queue.append(entry)
        self._idle.clear()
        if self._active < self.writers:
            self._active += 1
            task = asyncio.create_task(self._write_batches())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return entry

    def withdraw(self, entry: Entry) -> bool:
        """Take back an arrival no batch holds yet (True), so it is never written from here."""
        if entry.taken:
            return False
        try:
            self._queue.remove(entry)
        except ValueError:
            return False
        if not entry.done.done():
            entry.done.cancel()
        return True

    def withdraw_all(self) -> list[Entry]:
        """Take back every arrival no batch holds yet (on stop, after ``drain``)."""
        entries = [e for e in self._queue if not e.taken and not e.done.done()]
        self._queue.clear()
        for entry in entries:
            entry.done.cancel()
        if not self._active:
            self._idle.set()
        return entries

    def admits(self, bound_seconds: float) -> bool:
        """Whether an arrival submitted now should be written within half its bound: the batches
        ahead of it (all writers busy) times a batch's time, spread over the writers."""
        if self._active < self.writers:
            return True
        ahead = len(self._queue) // self.max_batch + 1
        return ahead * self.stats.batch_seconds / self.writers < bound_seconds / 2

    def _next_batch(self) -> list[Entry]:
        batch: list[Entry] = []
        seen: set[str] = set()
        held: list[Entry] = []  # a second arrival of a call in this batch waits for the next
        while self._queue and len(batch) < self.max_batch:
            entry = self._queue.popleft()
            if entry.done.done():  # withdrawn meanwhile
                continue
            if entry.fact.uniqueid in seen:
                held.append(entry)
                continue
            seen.add(entry.fact.uniqueid)
            entry.taken = True
            batch.append(entry)
        self._queue.extendleft(reversed(held))
        return batch

    async def _write_batches(self) -> None:
        try:
            await self._write_queued()
        finally:
            self._active -= 1
            if not self._active and not self._queue:
                self._idle.set()

    async def _write_queued(self) -> None:
        while self._queue:
            batch = self._next_batch()
            if not batch:
                continue
            started = time.monotonic()
            try:
                async with self.pool.connection() as connection:
                    results = await arrive_many(PgRows(connection), [e.fact for e in batch])
            except BaseException as exc:
                for entry in batch:
                    if not entry.done.done():
                        entry.done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            finally:
                elapsed = time.monotonic() - started
                self.stats.batch_seconds += (elapsed - self.stats.batch_seconds) * 0.1
            self.stats.batches += 1
            self.stats.arrivals += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            for entry, result in zip(batch, results, strict=True):
                if not entry.done.done():
                    entry.done.set_result(result)

    async def settled(self) -> None:
        """Until every arrival submitted so far has been written (or has failed)."""
        await self._idle.wait()

    async def drain(self, grace_seconds: float) -> None:
        """Let the batches being written finish (on stop), within ``grace_seconds``."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_seconds)
        if self.stats.batches:
            log.info(
                "arrivals written: %d in %d batches (largest %d, %.1f ms each on average lately)",
                self.stats.arrivals,
                self.stats.batches,
                self.stats.largest,
                self.stats.batch_seconds * 1000,
            )
