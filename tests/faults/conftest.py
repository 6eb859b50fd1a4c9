"""Fault fixtures: the e2e fixtures (tests/e2e/conftest.py) reused on an Asterisk, gateway, SIPp
and database of this folder's own, so restarting them cannot disturb other tests, and the e2e
session's gateway (alive for the whole run) cannot take this folder's work: sharing one database,
it would claim this folder's callback requests and webhook messages and place them through its own
Asterisk and settings. Every test here is marked ``e2e``."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from ops.sipp import SippRunner
from tests.conftest import database_of_its_own
from tests.conftest import engine as engine  # this folder's database
from tests.e2e.conftest import (  # noqa: F401  (fixtures reused by name)
    _free_udp_port,
    asterisk,
    centre_settings,
    gateway,
    gateway_process,
)

CALLTAKERS = 4


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
async def database_url(database_url: str) -> str:
    """A database of this folder's own on the run's PostgreSQL server (stopping that server
    still stops this one too)."""
    return await database_of_its_own(database_url, "siaga_faults")


@pytest.fixture(scope="session")
def e2e_settings(database_url: str) -> Iterator[Settings]:
    """Like the e2e settings, with its own RTP range and four call takers."""
    yield from centre_settings(
        database_url,
        "faults",
        calltakers=CALLTAKERS,
        rtp_base=30000 + (os.getpid() % 20) * 500,
        rtp_span=500,
        # agencies' receivers on loopback, retried every fraction of a second while down
        webhooks={
            "allowlist": ["127.0.0.1"],
            "timeout_seconds": 2.0,
            "retry_delays_seconds": [0.0, 0.5, 1.0],
            "jitter": 0.1,
            "poll_seconds": 0.2,
        },
        # the carrier's side for callbacks: a SIPp "citizen" answers there
        asterisk={"carrier_contact": f"sip:127.0.0.2:{_free_udp_port()}"},
    )


@pytest.fixture(scope="session")
async def sipp(e2e_settings: Settings, asterisk: object) -> AsyncIterator[SippRunner]:  # noqa: F811
    """SIPp call takers answering (4 s talk) for the whole run, on ports of its own: fewer calls
    a second than the traffic brings, so some callers give up while queued."""
    workdir = Path(tempfile.mkdtemp(prefix="siaga-faults-sipp-"))
    runner = SippRunner(
        workdir, e2e_settings.asterisk.sip_port, port_base=50000 + os.getpid() % 300 * 40
    )
    for ct in e2e_settings.asterisk.calltakers:
        assert ct.contact is not None
        await runner.start_calltaker(int(ct.contact.rsplit(":", 1)[1]), talk_ms=4000)
    yield runner
    await runner.stop()
    if not os.environ.get("SIAGA_E2E_KEEP"):
        shutil.rmtree(workdir, ignore_errors=True)
