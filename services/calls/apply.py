"""Where each call fact is written: an arrival that may open its call by
``services.calls.arrivals`` (the caller's triage history is read in the same statement), any other
fact by ``services.calls.write``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from core.names import CallEventKind
from core.rows import Rows, SessionRows
from services.calls.arrivals import arrive_many
from services.calls.facts import CallFact, FactResult
from services.calls.write import write_fact

ARRIVED = CallEventKind.ARRIVED.value


def _opens(fact: CallFact) -> bool:
    return fact.kind == ARRIVED and fact.may_create


async def apply_fact(db: AsyncSession | Rows, fact: CallFact) -> FactResult:
    """Write ``fact`` in the transaction of ``db`` (an ORM session, or ``Rows`` on the gateway's
    own connection), with its stream events. The caller commits."""
    rows = SessionRows(db) if isinstance(db, AsyncSession) else db
    if _opens(fact):
        return (await arrive_many(rows, [fact]))[0]  # a batch of one
    return await write_fact(rows, fact)


async def apply_in_batch(db: Rows, facts: Sequence[CallFact]) -> list[FactResult]:
    """A batch of facts of any kind in the transaction of ``db``: the arrivals first, together
    (``arrive_many``: an arrival is a call's first fact), then the others in their order. A second
    arrival of a call in the batch takes its place among the others. Results in ``facts``' order."""
    firsts: dict[str, int] = {}
    for i, fact in enumerate(facts):
        if _opens(fact):
            firsts.setdefault(fact.uniqueid, i)
    results: list[FactResult | None] = [None] * len(facts)
    arrivals = list(firsts.values())
    written = await arrive_many(db, [facts[i] for i in arrivals])
    for i, result in zip(arrivals, written, strict=True):
        results[i] = result
    for i, fact in enumerate(facts):
        if results[i] is None:
            results[i] = await apply_fact(db, fact)
    return [r for r in results if r is not None]
