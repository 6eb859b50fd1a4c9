"""Durable writes of call facts: the database within a short bound, or the spool when it cannot
take them. The rest of the gateway writes facts only through ``DurableWrites``.

``DurableWrites.record`` never raises and never waits longer than its bound. After a failure (an
error, or a write past its bound while no other write finished) the store sends facts straight to
the spool for a moment (the database is down: no call should wait on it again), and the replayer
(``run_replayer``) writes the spool back once the database answers. A busy database is not a down
one: an arrival that would queue too long for its batch, or that is slow while others finish, is
spooled alone.

Arrivals a caller waits for are written in batches by ``gateway.call_path.arrival_writer`` on
the call path's own connections. Facts nobody waits for (the AMI consumer's, arrivals answered at
once) go to ``fact_writer`` and are written by ``record_many``, many in one transaction on a
connection of their own; replays one by one on the ORM session.

``answer_now`` answers an arrival before it is written, when ``gateway.call_path.known_callers``
knows the caller has no triage history and holds a ticket id drawn beforehand: the answer is that
ticket and the normal priority, and the arrival (carrying the id as ``drawn_ticket_id``) goes to
the fact writer, written with the call's other facts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.names import CallEventKind
from core.phone import normalise
from core.rows import PgRows
from gateway.call_path.arrival_writer import ArrivalWriter
from gateway.call_path.fact_writer import FactWriter
from gateway.call_path.known_callers import KnownCallers
from gateway.call_path.pg import CallPathPool, asyncpg_dsn
from gateway.call_path.spool import Spool
from services.calls.apply import apply_fact, apply_in_batch
from services.calls.facts import CallFact, FactResult
from services.triage.decide import NORMAL_DECISION

log = logging.getLogger(__name__)

# After a database failure, facts go straight to the spool for this long.
COOL_DOWN_SECONDS = 1.0
# Longest pause between replay attempts while the database stays down.
REPLAY_MAX_PAUSE = 5.0
# Calls answered at once that this process remembers: one asked again takes the written path, which
# answers the ticket the first arrival opened.
REMEMBERED = 10_000
# Errors the server reports about the facts or the moment (a deadlock with another writer, a value
# it refuses), not about being down: the facts are spooled (the replay writes them one by one and
# sets aside one it refuses), and nothing else is sent to the spool meanwhile.
REFUSED = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.SyntaxOrAccessError,
)
NOT_DOWN = (asyncpg.TransactionRollbackError, *REFUSED)


class DurableWrites:
    """``pool``: the call path's connections for arrivals (``gateway.call_path.pg``); by default a
    pool of its own on the sessionmaker's database, opened on the first arrival."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        spool: Spool,
        bound_seconds: float,
        pool: CallPathPool | None = None,
        known_callers: KnownCallers | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        # An arrival is one atomic statement (call, ticket, timeline, event, with the triage read
        # folded in): it runs without BEGIN/COMMIT round trips.
        engine = sessionmaker.kw["bind"]
        self._autocommit = async_sessionmaker(
            bind=engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )
        self.pool = pool if pool is not None else CallPathPool(asyncpg_dsn(engine.url))
        # the AMI consumer's facts: one connection, written in order, never in the arrivals' way
        self.facts_pool = CallPathPool(self.pool.dsn, size=1)
        self.arrivals = ArrivalWriter(self.pool)
        # facts nobody waits for (the AMI consumer's, arrivals answered at once), in order
        self.fact_writer = FactWriter(self.record_many, self.spool_all)
        self.known_callers = known_callers
        self._replaying = asyncio.Lock()
        # uniqueid -> ticket id, oldest first: calls answered at once, and calls whose ticket a
        # fact opened before their arrival came (a hangup during the greeting): an arrival of
        # either takes the written path, which answers the ticket the call already has
        self._answered: dict[str, int] = {}
        self.spool = spool
        self.bound_seconds = bound_seconds
        self._down_until = 0.0
        self._progress = 0.0  # when a write last finished within its bound
        self.database_ok = True
        # writes still running past their bound: never awaited on the call path (cancelling a
        # query can itself take long), harmless when they land (the spooled copy is idempotent)
        self._late: set[asyncio.Future[Any]] = set()

    async def apply(self, fact: CallFact) -> FactResult:
        """Apply ``fact`` in its own transaction (no bound, raises on failure)."""
        if fact.kind == CallEventKind.ARRIVED:
            async with self._autocommit() as session:
                return await apply_fact(session, fact)
        async with self.sessionmaker() as session, session.begin():
            return await apply_fact(session, fact)

    async def record(self, fact: CallFact) -> FactResult | None:
        """Apply ``fact`` within the bound; on timeout or error spool it and return None.

        An arrival that would wait for its batch (``gateway.call_path.arrival_writer``) longer than
        half its bound is spooled at once, and one still queued when its bound runs out is taken
        back and spooled: the database is busy, not down, so no cool-down."""
        if fact.kind != CallEventKind.ARRIVED or not fact.may_create:
            return (await self.record_many([fact]))[0]
        fact = self._with_drawn_ticket(fact)
        if time.monotonic() < self._down_until or not self.arrivals.admits(self.bound_seconds):
            self._spool(fact)
            return None
        started = time.monotonic()
        entry = self.arrivals.submit(fact)
        task = entry.done
        done, _ = await asyncio.wait({task}, timeout=self.bound_seconds)
        if not done and self.arrivals.withdraw(entry):
            # still queued behind the batches being written: the database is busy, not down (no
            # cool-down); an arrival no batch holds yet is taken back rather than left to pile up
            self._spool(fact)
            return None
        if self._write_succeeded(task, done, started):
            return task.result()
        self._spool(fact)
        return None

    async def record_many(self, facts: Sequence[CallFact]) -> list[FactResult | None]:
        """Apply facts other than arrivals (the AMI consumer's, in the order Asterisk reported
        them) in one transaction within the bound; on timeout or error spool them all (the spool
        is idempotent: a late write landing too does no harm) and return None for each."""
        facts = [self._with_drawn_ticket(fact) for fact in facts]
        if time.monotonic() < self._down_until:
            self.spool_all(facts)
            return [None] * len(facts)
        started = time.monotonic()
        task = asyncio.ensure_future(self._apply_many(facts))
        done, _ = await asyncio.wait({task}, timeout=self.bound_seconds)
        if self._write_succeeded(task, done, started):
            return list(task.result())
        self.spool_all(facts)
        return [None] * len(facts)

    def _write_succeeded(self, task: asyncio.Future[Any], done: set[Any], started: float) -> bool:
        """After waiting for a write (started at ``started``) within its bound: whether it landed.
        If not, the caller spools its facts; a write still running is left to finish (``_late``),
        and the database counts as down unless other writes finished meanwhile (a slow write: a
        lock on its row, a hiccup)."""
        exc: BaseException | None = task.exception() if done else TimeoutError()
        if not done:
            self._late.add(task)
            task.add_done_callback(self._late_done)
        if exc is None:
            self.database_ok = True
            self._progress = time.monotonic()
            return True
        if done or self._progress <= started:
            self._failed(exc)
        return False

    def _with_drawn_ticket(self, fact: CallFact) -> CallFact:
        """A fact about a call answered at once may come before its arrival is written: if it
        opens the call's ticket, it opens the one the caller was answered with."""
        return fact.with_drawn_ticket(self._answered.get(fact.uniqueid))

    async def _apply_many(self, facts: Sequence[CallFact]) -> list[FactResult]:
        async with self.facts_pool.connection() as connection, connection.transaction():
            results = await apply_in_batch(PgRows(connection), facts)
        for fact, result in zip(facts, results, strict=True):
            if result.ticket_opened and result.ticket_id is not None:
                self._remember(fact.uniqueid, result.ticket_id)
            drawn = fact.drawn_ticket_id
            if fact.kind == CallEventKind.ARRIVED and drawn and result.ticket_id != drawn:
                log.warning(
                    "call uniqueid=%s already had ticket %s: the number answered at once (%s) is "
                    "unused",
                    fact.uniqueid,
                    result.ticket_number,
                    drawn,
                )
        return results

    def _remember(self, uniqueid: str, ticket_id: int) -> None:
        self._answered.setdefault(uniqueid, ticket_id)
        if len(self._answered) > REMEMBERED:
            del self._answered[next(iter(self._answered))]

    def answer_now(self, fact: CallFact) -> FactResult | None:
        """The answer for an arrival without waiting for the database, or None (the caller may have
        history, no id is drawn, or the call was answered before): then ``record`` it.

        The arrival goes to the fact writer: written with the call's other facts in
        their next batch, or spooled with its ticket id when that batch cannot be written within
        the bound; the ticket the caller was answered with is opened when the spool is written
        back."""
        known = self.known_callers
        if known is None or fact.kind != CallEventKind.ARRIVED or not fact.may_create:
            return None
        if fact.uniqueid in self._answered:
            return None
        caller = fact.data.get("caller_number")
        if known.may_have_history(normalise(caller) if caller else None):
            return None
        ticket_id = known.take_ticket_id()
        if ticket_id is None:
            return None
        self._remember(fact.uniqueid, ticket_id)
        self.fact_writer.put(fact.with_drawn_ticket(ticket_id))
        return FactResult(ticket_id=ticket_id, decision=NORMAL_DECISION)

    def _failed(self, exc: BaseException) -> None:
        """A write failed: the database is down (facts go straight to the spool for a moment),
        unless the server refused these facts or this moment only (``NOT_DOWN``)."""
        if isinstance(exc, NOT_DOWN):
            log.warning("call facts refused (%s: %.200s): spooled", type(exc).__name__, exc)
            return
        self._down_until = time.monotonic() + COOL_DOWN_SECONDS
        if self.database_ok:
            log.error(
                "database unavailable (%s: %.200s): spooling call facts", type(exc).__name__, exc
            )
        self.database_ok = False

    def _late_done(self, task: asyncio.Future[Any]) -> None:
        self._late.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("a late write failed too: %s", type(task.exception()).__name__)

    async def drain(self, grace_seconds: float) -> None:
        """On stop: write the facts queued in the fact writer (or spool them), let writes still
        running past
        their bound finish, then close the call path's connections (an arrival after this is
        spooled; replays use the sessionmaker)."""
        await self.fact_writer.stop(grace_seconds)
        if self._late:
            await asyncio.wait(list(self._late), timeout=grace_seconds)
        await self.arrivals.drain(grace_seconds)
        for entry in self.arrivals.withdraw_all():  # never written: kept on disk
            self._spool(entry.fact)
        await self.pool.close()
        await self.facts_pool.close()

    def spool_all(self, facts: Sequence[CallFact]) -> None:
        for fact in facts:
            self._spool(fact)

    def _spool(self, fact: CallFact) -> None:
        try:
            self.spool.append(fact)
        except OSError:
            log.exception("could not spool %s fact for uniqueid=%s", fact.kind, fact.uniqueid)

    async def replay_once(self) -> int:
        """Write the spool into the database; returns the number of facts written."""
        async with self._replaying:  # the replayer's and the stop's replay take turns
            if not self.spool.pending():
                return 0
            count = await self.spool.replay(self._apply_or_reject)
        if count:
            log.info("replayed %d spooled call facts", count)
        self._down_until = 0.0
        self.database_ok = True
        return count

    async def _apply_or_reject(self, fact: CallFact) -> None:
        """A fact the database refuses for its content (not for being down) would block the spool
        forever: it is set aside in ``rejected.log`` with an error line instead."""
        try:
            await self.apply(fact)
        except (DataError, IntegrityError, ProgrammingError, ValueError, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not _refused(exc):
                raise
            log.error("spooled %s fact for uniqueid=%s rejected: %s", fact.kind, fact.uniqueid, exc)
            self.spool.reject(fact)

    async def run_replayer(self, stopping: asyncio.Event, interval: float = 1.0) -> None:
        """Until ``stopping`` is set: replay the spool whenever it holds facts, backing off while
        the database stays down."""
        delay = interval
        while not stopping.is_set():
            try:
                await self.replay_once()
                delay = interval
            except Exception as exc:
                log.warning(
                    "spool replay failed (%s), retrying in %.0f s", type(exc).__name__, delay
                )
                delay = min(delay * 2, REPLAY_MAX_PAUSE)
            try:
                await asyncio.wait_for(stopping.wait(), delay)
            except TimeoutError:
                pass


def _refused(exc: BaseException) -> bool:
    """Whether the driver's error under a SQLAlchemy error refuses the fact's content (a value
    out of a column's range is refused before it reaches the server, as a plain DBAPIError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (DataError, IntegrityError, ProgrammingError, *REFUSED)):
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False
