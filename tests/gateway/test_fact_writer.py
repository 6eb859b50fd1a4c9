"""The writer of the facts nobody waits for (``gateway.call_path.fact_writer``): a batch it cannot
write goes to
the spool and the writer goes on; on stop, what it could not write within the grace is spooled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.names import CallEventKind
from core.timeutil import utcnow
from gateway.call_path.fact_writer import FactWriter
from services.calls.facts import CallFact, FactResult


def fact(uniqueid: str) -> CallFact:
    return CallFact(CallEventKind.QUEUED.value, uniqueid, utcnow(), {})


class Database:
    """Stands in for ``DurableWrites.record_many``: fails, hangs or writes, as told."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.written: list[str] = []
        self.spooled: list[str] = []

    async def write(self, facts: Sequence[CallFact]) -> list[FactResult | None]:
        if self.mode == "fail":
            self.mode = "write"
            raise RuntimeError("a write that raises")
        if self.mode == "hang":
            await asyncio.sleep(3600)
        self.written += [f.uniqueid for f in facts]
        return [FactResult(ticket_id=1)] * len(facts)

    def spool(self, facts: Sequence[CallFact]) -> None:
        self.spooled += [f.uniqueid for f in facts]


async def test_a_batch_that_cannot_be_written_is_spooled_and_the_writer_goes_on() -> None:
    db = Database("fail")
    writer = FactWriter(db.write, db.spool)

    writer.put(fact("1.1"))
    writer.put(fact("1.2"))
    await writer.settled()
    writer.put(fact("1.3"))
    await writer.settled()
    await writer.stop(1.0)

    assert db.spooled == ["1.1", "1.2"] and db.written == ["1.3"]


async def test_on_stop_what_is_not_written_within_the_grace_is_spooled() -> None:
    db = Database("hang")
    writer = FactWriter(db.write, db.spool)
    writer.put(fact("2.1"))
    await asyncio.sleep(0.05)  # the first batch is being written
    writer.put(fact("2.2"))

    await writer.stop(0.2)

    assert db.written == [] and sorted(db.spooled) == ["2.1", "2.2"]
