"""Issue 4: Asterisk restarted under traffic. The gateway reconnects to AMI by itself; every call
Asterisk took before the restart has one complete ticket (calls cut by the restart included), and
every call after it is handled as usual."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.names import CallOutcome
from core.settings import Settings
from models import Call
from ops.asterisk import AsteriskInstance
from ops.sipp import SippRunner
from tests.e2e.conftest import GatewayProcess, cdr_rows, eventually
from tests.faults.traffic import assert_no_call_lost, calls_of, start_traffic

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)


def _gateway_on_ami(asterisk: AsteriskInstance, settings: Settings) -> bool:
    out = asterisk.cli("manager show connected")
    return any(line.split()[:1] == [settings.ami.username] for line in out.splitlines())


async def test_asterisk_restart_under_traffic_leaves_no_call_without_its_ticket(
    gateway: GatewayProcess,
    sipp: SippRunner,
    asterisk: AsteriskInstance,
    engine: AsyncEngine,
    e2e_settings: Settings,
) -> None:
    # a minute of traffic in all: 20 s of it with the restart in the middle, 40 s after
    before = start_traffic(sipp, seconds=20)
    await asyncio.sleep(10)
    asterisk.stop()  # "core stop now": calls in progress are cut
    await asyncio.to_thread(asterisk.start)
    await before.result()  # calls cut by the restart fail on the caller's side: expected

    # the gateway found Asterisk again by itself
    await eventually(lambda: _gateway_on_ami(asterisk, e2e_settings), timeout=30, interval=0.5)
    after = start_traffic(sipp, seconds=40)
    result = await after.result()
    assert result.ok, result.stderr[-2000:]
    figures = await assert_no_call_lost(engine, asterisk, after)

    # before the restart: every call that reached Asterisk has exactly one ticket, ended
    reached = {r["src"] for r in cdr_rows(asterisk)} & set(before.numbers)

    def complete(call: Call) -> bool:
        return bool(
            call.ended_at
            and call.outcome != CallOutcome.IN_PROGRESS
            and call.ticket_id is not None
            and call.recording_path
        )

    async def settled() -> list | None:  # type: ignore[type-arg]
        # a fact the gateway spooled while Asterisk went away reaches the database on replay
        calls = await calls_of(engine, before.numbers)
        return (
            calls
            if all(complete(c) for c in calls) and reached <= {c.caller_number_raw for c in calls}
            else None
        )

    try:
        calls = await eventually(settled, timeout=60, interval=2)
    except AssertionError as timeout:
        calls = await calls_of(engine, before.numbers)
        left = [
            (c.uniqueid, c.caller_number_raw, c.ticket_id, c.recording_path, c.outcome, c.source)
            for c in calls
            if not complete(c)
        ]
        missing = reached - {c.caller_number_raw for c in calls}
        raise AssertionError(
            f"calls left incomplete: {left}; reached Asterisk, no call: {missing}"
        ) from timeout
    assert (
        len({c.uniqueid for c in calls}) == len(calls) == len({c.caller_number_raw for c in calls})
    )
    assert all(complete(c) for c in calls)
    log.warning(
        "Asterisk restart: before %d placed, %d reached Asterisk's CDR, %d tickets; after: %s",
        len(before.numbers),
        len(reached),
        len(calls),
        figures,
    )
