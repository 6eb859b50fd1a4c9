"""Steady SIPp traffic and the checks every fault test ends with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.names import CallOutcome
from models.call import Call
from models.ticket import Ticket
from ops.asterisk import AsteriskInstance
from ops.sipp import (
    _ACK,
    _CALLER_HANGS_UP,
    _CARRIER,
    _CENTRE_HANGS_UP,
    _PLAY,
    _SDP,
    SPEECH,
    SippResult,
    SippRunner,
)
from tests.e2e.conftest import cdr_rows, eventually, unique_number

RATE = 3  # calls a second: one patient caller and two impatient ones
SECONDS = 60  # of traffic: a minute, as the zero-loss checks ask
# Patient callers wait as long as it takes and keep the four call takers (4 s talk) about busy;
# impatient ones hang up this long after the answer, a few seconds after joining the queue, so
# most of them give up while queued and a few are put through.
PATIENT_MS = 60000
IMPATIENT_MS = 9000
WAV_HEADER = 44


def impatient_caller(patience_ms: int = IMPATIENT_MS) -> str:
    """A citizen who speaks, then either hears the call taker end the call or gives up (hangs up)
    after ``patience_ms``, whichever comes first: both end the call normally."""
    wait = _CENTRE_HANGS_UP.replace(
        '<recv request="BYE"/>', f'<recv request="BYE" timeout="{patience_ms}" ontimeout="giveup"/>'
    )
    after = (
        _ACK
        + _PLAY.format(pcap=SPEECH)
        + wait
        + '  <nop next="done"/>\n  <label id="giveup"/>\n'
        + _CALLER_HANGS_UP.format(ms=0)
        + '  <label id="done"/>\n'
    )
    return _CARRIER.format(sdp=_SDP, expect="200", after_answer=after)


@dataclass
class Traffic:
    numbers: list[str]
    task: asyncio.Task[SippResult]

    async def result(self) -> SippResult:
        return await self.task


def start_traffic(sipp: SippRunner, rate: int = RATE, seconds: int = SECONDS) -> Traffic:
    """``rate`` calls a second for ``seconds``: one a second patient, the rest impatient."""
    patient = [unique_number() for _ in range(seconds)]
    impatient = [unique_number() for _ in range((rate - 1) * seconds)]
    limit = seconds + PATIENT_MS // 1000 + 30

    async def both() -> SippResult:
        results = await asyncio.gather(
            sipp.call(patient, rate=1, scenario=impatient_caller(PATIENT_MS), timeout_s=limit),
            sipp.call(impatient, rate=rate - 1, scenario=impatient_caller(), timeout_s=limit),
        )
        return SippResult(
            max(r.returncode for r in results),
            "\n".join(r.stdout for r in results),
            "\n".join(r.stderr for r in results),
        )

    return Traffic(patient + impatient, asyncio.create_task(both()))


async def calls_of(engine: AsyncEngine, numbers: list[str]) -> list[Call]:
    async with AsyncSession(engine) as session:
        result = await session.execute(select(Call).where(Call.caller_number_raw.in_(numbers)))
        return list(result.scalars())


async def all_complete(engine: AsyncEngine, numbers: list[str]) -> list[Call] | None:
    calls = await calls_of(engine, numbers)
    done = [
        c
        for c in calls
        if c.ended_at is not None
        and c.outcome != CallOutcome.IN_PROGRESS
        and c.ticket_id is not None
        and c.recording_path
        and (c.outcome != CallOutcome.ANSWERED or (c.calltaker and c.answered_at))
    ]
    return calls if len(done) == len(numbers) and len(calls) == len(numbers) else None


async def assert_no_call_lost(
    engine: AsyncEngine, asterisk: AsteriskInstance, traffic: Traffic, timeout: float = 90
) -> dict[str, int]:
    """Tickets == calls placed, one ticket per call, every call's recording attached and on disk;
    returns the figures (for the report)."""
    numbers = traffic.numbers
    try:
        calls = await eventually(lambda: all_complete(engine, numbers), timeout=timeout, interval=2)
    except AssertionError:
        found = await calls_of(engine, numbers)
        missing = set(numbers) - {c.caller_number_raw for c in found}
        incomplete = [
            (c.uniqueid, c.outcome, c.ticket_id, c.ended_at, c.recording_path, c.source)
            for c in found
            if c.ended_at is None
            or c.outcome == CallOutcome.IN_PROGRESS
            or c.ticket_id is None
            or not c.recording_path
            or (c.outcome == CallOutcome.ANSWERED and not (c.calltaker and c.answered_at))
        ]
        raise AssertionError(
            f"{len(found)} calls of {len(numbers)} placed; missing {sorted(missing)[:10]}; "
            f"incomplete {incomplete[:10]}"
        ) from None
    # Asterisk itself handled every call SIPp placed
    handled = {r["src"] for r in cdr_rows(asterisk) if r["src"] in set(numbers)}
    assert handled == set(numbers)
    # one call row and one ticket per call placed, no doubles
    assert sorted(c.caller_number_raw or "" for c in calls) == sorted(numbers)
    ticket_ids = [c.ticket_id for c in calls]
    assert len(set(ticket_ids)) == len(numbers)
    async with AsyncSession(engine) as session:
        tickets = (
            await session.execute(select(Ticket.id).where(Ticket.id.in_(ticket_ids)))
        ).scalars()
        assert len(set(tickets)) == len(numbers)
    answered = [c for c in calls if c.outcome == CallOutcome.ANSWERED]
    for call in calls:
        assert call.recording_path and call.recording_path.endswith(f"{call.uniqueid}.wav")
        assert (asterisk.recordings / call.recording_path).exists()
    for call in answered:
        assert call.calltaker and call.answered_at is not None
        assert (asterisk.recordings / call.recording_path).stat().st_size > WAV_HEADER
    return {
        "placed": len(numbers),
        "tickets": len(set(ticket_ids)),
        "answered": len(answered),
        "abandoned": sum(1 for c in calls if c.outcome == CallOutcome.ABANDONED),
        "reconciled": sum(1 for c in calls if c.source == "reconciled"),
    }
