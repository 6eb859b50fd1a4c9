"""The gateway's AMI account receives only the events the gateway uses (manager.conf's event
filters), and still every answer to the actions it sends after a login."""

from __future__ import annotations

import asyncio
import logging

import pytest
from panoramisk import Manager

from core.settings import Settings
from gateway.ami import facts as ami_events
from ops.asterisk import AsteriskInstance
from ops.sipp import SippRunner
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.conftest import GatewayProcess, unique_number

pytestmark = pytest.mark.e2e


async def test_a_call_reaches_the_gateway_account_only_as_the_events_the_gateway_uses(
    gateway: GatewayProcess, sipp: SippRunner, ami: AmiWatch
) -> None:
    number = unique_number()

    result = await sipp.call([number])

    assert result.ok, result.stderr
    joined = await ami.wait_for("QueueCallerJoin", CallerIDNum=number)
    for event in ("AgentCalled", "AgentConnect", "AgentComplete", "Hangup"):
        await ami.wait_for(event, Uniqueid=joined["Uniqueid"])
    # the channel's own life (Newchannel, Newstate, Dial*, Bridge*) stays in Asterisk
    received = {e["Event"] for e in ami.events}
    assert received <= set(ami_events.SUBSCRIBED), received - set(ami_events.SUBSCRIBED)


async def test_answers_to_the_gateways_actions_pass_the_filters(
    e2e_settings: Settings, asterisk: AsteriskInstance
) -> None:
    secret = e2e_settings.ami.secret
    assert secret is not None
    logged_in = asyncio.get_running_loop().create_future()
    manager = Manager(
        host=e2e_settings.ami.host,
        port=e2e_settings.ami.port,
        username=e2e_settings.ami.username,
        secret=secret.get_secret_value(),
        loop=asyncio.get_running_loop(),
        on_login=lambda m: logged_in.done() or logged_in.set_result(True),
        log=logging.getLogger(__name__),
    )
    manager.connect()
    try:
        await asyncio.wait_for(logged_in, 10)
        channels = await asyncio.wait_for(
            manager.send_action({"Action": "CoreShowChannels"}, as_list=True), 10
        )
        queues = await asyncio.wait_for(
            manager.send_action({"Action": "QueueStatus"}, as_list=True), 10
        )
    finally:
        manager.close()

    assert channels[-1]["Event"] == "CoreShowChannelsComplete"
    members = {m.get("Name") for m in queues if m.get("Event") == "QueueMember"}
    assert members == {ct.account for ct in e2e_settings.asterisk.calltakers}
    assert queues[-1]["Event"] == "QueueStatusComplete"
