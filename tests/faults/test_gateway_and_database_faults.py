"""Issue 4, under steady SIPp traffic on real Asterisk and PostgreSQL: the gateway killed hard
and PostgreSQL stopped for a while lose no call, no ticket and no recording."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.asterisk import AsteriskInstance
from ops.postgres import LocalPostgres
from ops.sipp import SippRunner
from tests.e2e.conftest import GatewayProcess
from tests.faults.traffic import assert_no_call_lost, calls_of, start_traffic

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)


async def test_gateway_killed_mid_traffic_loses_no_call(
    gateway: GatewayProcess, sipp: SippRunner, asterisk: AsteriskInstance, engine: AsyncEngine
) -> None:
    traffic = start_traffic(sipp)
    await asyncio.sleep(10)
    assert gateway.process is not None
    gateway.process.kill()  # SIGKILL: no chance to write anything
    gateway.process.wait()
    await asyncio.sleep(10)  # calls go on with Asterisk alone
    gateway.start()

    result = await traffic.result()

    assert result.ok, result.stderr[-2000:]
    figures = await assert_no_call_lost(engine, asterisk, traffic)
    log.warning("gateway kill -9: %s", figures)
    assert figures["reconciled"] > 0  # some calls happened while it was away
    assert figures["answered"] > 0 and figures["abandoned"] > 0


async def test_database_stopped_for_twenty_seconds_loses_no_call(
    gateway: GatewayProcess,
    sipp: SippRunner,
    asterisk: AsteriskInstance,
    engine: AsyncEngine,
    postgres: LocalPostgres,
) -> None:
    traffic = start_traffic(sipp)
    await asyncio.sleep(8)
    postgres.stop()
    try:
        await asyncio.sleep(20)
    finally:
        postgres.start()
    await engine.dispose()  # the test's own pool held connections to the stopped server

    result = await traffic.result()

    assert result.ok, result.stderr[-2000:]
    assert gateway.process is not None and gateway.process.poll() is None  # it rode it out
    figures = await assert_no_call_lost(engine, asterisk, traffic)
    log.warning("PostgreSQL down 20 s: %s", figures)
    assert figures["answered"] > 0 and figures["abandoned"] > 0


async def test_sigterm_mid_traffic_stops_cleanly_and_leaves_no_half_made_ticket(
    gateway: GatewayProcess, sipp: SippRunner, asterisk: AsteriskInstance, engine: AsyncEngine
) -> None:
    traffic = start_traffic(sipp, seconds=15)
    await asyncio.sleep(6)
    assert gateway.process is not None
    process = gateway.process
    gateway.stop()  # SIGTERM, then waits for the exit

    assert process.returncode == 0
    log_text = gateway.log_file.read_text(errors="replace")
    assert any(line.endswith("gateway stopped") for line in log_text.splitlines()[-5:])
    # what it had learned is written: every call it knew has its ticket, none half made
    known = await calls_of(engine, traffic.numbers)
    assert known and all(c.ticket_id is not None for c in known)

    gateway.start()
    result = await traffic.result()
    assert result.ok, result.stderr[-2000:]
    figures = await assert_no_call_lost(engine, asterisk, traffic)
    log.warning("SIGTERM mid-traffic: %d calls known at stop, then %s", len(known), figures)
