"""The gateway's AMI account can do what the gateway needs and nothing more."""

from __future__ import annotations

import asyncio

import pytest

from core.settings import Settings
from ops.asterisk import AsteriskInstance

pytestmark = pytest.mark.e2e


async def _ami(settings: Settings, secret: str, *actions: str) -> list[dict[str, str]]:
    reader, writer = await asyncio.open_connection(settings.ami.host, settings.ami.port)
    await reader.readline()
    replies = []
    try:
        login = f"Action: Login\r\nUsername: {settings.ami.username}\r\nSecret: {secret}\r\n"
        for action in (login + "Events: off\r\n", *actions):
            writer.write((action + "\r\n").encode())
            await writer.drain()
            block: dict[str, str] = {}
            while True:
                line = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
                if not line and block:
                    break
                key, _, value = line.partition(":")
                if key:
                    block.setdefault(key.strip(), value.strip())
            replies.append(block)
    finally:
        writer.close()
    return replies


async def test_the_gateway_account_cannot_run_cli_commands_or_shell(
    e2e_settings: Settings, asterisk: AsteriskInstance
) -> None:
    assert e2e_settings.ami.secret is not None
    replies = await _ami(
        e2e_settings,
        e2e_settings.ami.secret.get_secret_value(),
        "Action: Command\r\nCommand: core show version\r\n",
        "Action: CoreShowChannels\r\n",
    )

    assert replies[0]["Response"] == "Success"
    assert replies[1]["Response"] == "Error"  # no "command" right
    assert replies[2]["Response"] == "Success"  # what the gateway needs after a reconnect


async def test_a_wrong_secret_is_refused(
    e2e_settings: Settings, asterisk: AsteriskInstance
) -> None:
    replies = await _ami(e2e_settings, "not-the-secret-at-all")

    assert replies[0]["Response"] == "Error"
