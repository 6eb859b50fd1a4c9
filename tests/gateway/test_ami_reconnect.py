"""The AMI consumer against a real Asterisk: it logs in, reads the live state, and comes back by
itself (with growing pauses) after Asterisk restarts. Starts Asterisk: marked ``e2e``."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from gateway.ami.consumer import AmiConsumer
from gateway.main import Gateway
from ops.asterisk import AsteriskInstance
from tests.conftest import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def asterisk(gateway: Gateway) -> Iterator[AsteriskInstance]:
    settings = gateway.settings.model_copy(
        update={
            "asterisk": gateway.settings.asterisk.model_copy(
                update={
                    "instance_dir": f"/tmp/siaga-gw-{uuid.uuid4().hex[:8]}",
                    "sip_port": free_port(),
                    "rtp_start": 31000,
                    "rtp_end": 31099,
                }
            )
        }
    )
    if not Path(settings.asterisk.root, "usr/sbin/asterisk").exists():
        pytest.skip("the Asterisk root is not built")
    instance = AsteriskInstance(settings)
    instance.start()
    yield instance
    instance.stop()
    shutil.rmtree(instance.host_path(), ignore_errors=True)


async def until(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_the_consumer_logs_in_and_comes_back_after_asterisk_restarts(
    gateway: Gateway, asterisk: AsteriskInstance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings: Settings = asterisk.settings
    consumer = AmiConsumer(settings, gateway.store, {})
    consumer.start()
    try:
        await until(lambda: consumer.logged_in)
        await until(lambda: "AMI live state" in caplog.text)

        await asyncio.to_thread(asterisk.stop)
        await until(lambda: not consumer.logged_in)
        await asyncio.sleep(2)  # a few failed attempts while Asterisk is away
        await asyncio.to_thread(asterisk.start)

        await until(lambda: consumer.logged_in)
    finally:
        await consumer.stop(grace_seconds=1)
    assert "AMI connection lost" in caplog.text
    assert "unreachable, trying again" in caplog.text
    assert caplog.text.count("AMI logged in") == 2
