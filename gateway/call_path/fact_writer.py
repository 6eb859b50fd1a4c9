"""Facts nobody waits for, written behind the call: the AMI consumer's, the arrivals of calls
answered ahead (``DurableWrites.answer_now``) and the callbacks' outcomes.

One worker writes them in the order they came: what queued while a batch was written goes together
in the next one, in one transaction (``DurableWrites.record_many``: bounded, spooled when the
database cannot take it). The first fact of a batch waits ``GATHER_SECONDS`` for others (the events
of one moment of a call come together: an arrival and its queue's join, a hangup and its queue's
completion). The facts feed the consoles' live view, where 20 ms is not seen; in a surge each batch
holds tens. On stop, what could not be written within the grace goes to the spool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from services.calls.facts import CallFact, FactResult

log = logging.getLogger(__name__)

# Facts written in one transaction at most.
FACT_BATCH = 50
GATHER_SECONDS = 0.02

Write = Callable[[Sequence[CallFact]], Awaitable[list[FactResult | None]]]
Spool = Callable[[Sequence[CallFact]], None]


class FactWriter:
    def __init__(self, write: Write, spool: Spool) -> None:
        self._write = write
        self._spool = spool
        self._queue: asyncio.Queue[CallFact] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def put(self, fact: CallFact) -> None:
        """Queue ``fact`` (never blocks; the worker starts with the first fact)."""
        self._queue.put_nowait(fact)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._write_batches())

    async def settled(self) -> None:
        """Until every fact queued so far has been written (or spooled)."""
        await self._queue.join()

    async def _write_batches(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            try:
                await asyncio.sleep(GATHER_SECONDS)
                while len(batch) < FACT_BATCH and not queue.empty():
                    batch.append(queue.get_nowait())
                results = await self._write(batch)
                for fact, result in zip(batch, results, strict=True):
                    log.info(
                        "%s uniqueid=%s ticket=%s",
                        fact.kind,
                        fact.uniqueid,
                        result.ticket_number if result else "(spooled)",
                    )
            except asyncio.CancelledError:  # stopped past its grace: the batch is kept on disk
                self._spool(batch)
                raise
            except Exception:  # never stop writing: this batch goes to the spool
                log.exception("facts batch of %d not written: spooled", len(batch))
                self._spool(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def stop(self, grace_seconds: float) -> None:
        """Write what is queued within ``grace_seconds``; what is left goes to the spool."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), grace_seconds)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        left = []
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
            self._queue.task_done()
        if left:
            self._spool(left)
