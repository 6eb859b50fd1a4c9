"""After a login the gateway reads Asterisk's live channels and queues; an Asterisk too loaded to
answer in time is asked again instead of leaving the gateway blind until the next reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from panoramisk.message import Message
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ami import consumer as ami_module
from gateway.ami.consumer import AmiConsumer
from tests.gateway.conftest import call_row, new_uniqueid


class SlowThenAnswering:
    """Stands in for panoramisk's manager (no Asterisk can be made slow on demand): the first
    ``slow`` actions never answer, later ones answer with ``channels`` and an empty queue list."""

    def __init__(self, slow: int, channels: list[Message]) -> None:
        self.slow = slow
        self.channels = channels
        self.actions: list[str] = []

    async def send_action(self, action: dict[str, str], as_list: bool = False) -> Any:
        self.actions.append(action["Action"])
        if len(self.actions) <= self.slow:
            await asyncio.sleep(3600)
        if action["Action"] == "CoreShowChannels":
            return [*self.channels, Message({"Event": "CoreShowChannelsComplete"})]
        return [Message({"Event": "QueueStatusComplete"})]


@pytest.fixture
async def consumer(ami: AmiConsumer) -> AsyncIterator[AmiConsumer]:
    """The AMI consumer, logged in as far as it knows, with a manager each test sets."""
    ami.logged_in = True
    yield ami
    ami.manager = None  # nothing of panoramisk's to close


def _live(uniqueid: str) -> Message:
    return Message(
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/carrier-000000bb",
            "Uniqueid": uniqueid,
            "Linkedid": uniqueid,
            "Context": "siaga-112-queue",
            "CallerIDNum": "081299998888",
            "Duration": "00:00:40",
        }
    )


async def test_a_slow_answer_is_asked_again_and_the_live_caller_gets_a_ticket(
    consumer: AmiConsumer, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ami_module, "LIVE_STATE_SECONDS", 0.2)
    uniqueid = new_uniqueid()
    manager = SlowThenAnswering(slow=1, channels=[_live(uniqueid)])
    consumer.manager = manager

    await consumer.sync_live_state()
    await consumer.facts.settled()

    assert manager.actions == ["CoreShowChannels", "CoreShowChannels", "QueueStatus"]
    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id is not None and call.source == "reconciled"


async def test_the_read_gives_up_after_its_attempts_and_leaves_it_to_the_next_login(
    consumer: AmiConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ami_module, "LIVE_STATE_SECONDS", 0.05)
    manager = SlowThenAnswering(slow=100, channels=[])
    consumer.manager = manager

    await consumer.sync_live_state()

    assert manager.actions == ["CoreShowChannels"] * ami_module.LIVE_STATE_ATTEMPTS


async def test_a_connection_lost_meanwhile_stops_the_asking(
    consumer: AmiConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ami_module, "LIVE_STATE_SECONDS", 0.05)
    manager = SlowThenAnswering(slow=100, channels=[])
    consumer.manager = manager
    consumer.logged_in = False

    await consumer.sync_live_state()

    assert manager.actions == ["CoreShowChannels"]
