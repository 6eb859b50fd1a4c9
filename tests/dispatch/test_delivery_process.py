"""Webhook delivery as a process of its own (``python -m gateway.delivery``, as the run command
starts it beside a gateway with no delivery workers): it delivers from the real outbox, records the
outcome, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import select

from core.names import Role
from models import DeliveryAttempt, OutboxMessage
from services.dispatch import signing as webhooks
from tests.dispatch.conftest import Client, MakeAgency, MakeTicket, secret_of
from tests.dispatch.receiver import Receiver
from tests.dispatch.test_delivery import Sessions, dispatch, wait_until

ROOT = Path(__file__).resolve().parents[2]


async def test_the_delivery_process_delivers_and_stops_on_sigterm(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    receiver: Receiver,
    sessions: Sessions,
    database_url: str,
) -> None:
    agency = await make_agency(webhook_url=receiver.url)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SIAGA_DATABASE_URL": database_url,
        "SIAGA_WEBHOOKS__ALLOWLIST": '["127.0.0.1"]',
        "SIAGA_WEBHOOKS__POLL_SECONDS": "0.2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.delivery", cwd=ROOT, env=env
    )
    try:
        [d] = await dispatch(client, (await make_ticket()).id, agency.code)
        await receiver.wait_for(lambda: len(receiver.processed) == 1, timeout=30)

        async def recorded() -> bool:
            async with sessions() as s:
                state = await s.scalar(
                    select(OutboxMessage.state).where(OutboxMessage.dispatch_id == d["id"])
                )
            return state == "delivered"

        await wait_until(recorded)
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    assert code == 0
    [got] = receiver.requests
    assert webhooks.verify(secret_of(agency), got.headers, got.body) == got.webhook_id
    async with sessions() as s:
        message = await s.scalar(select(OutboxMessage).where(OutboxMessage.dispatch_id == d["id"]))
        assert message is not None
        [attempt] = list(
            await s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.outbox_id == message.id))
        )
    assert (attempt.status_code, (attempt.worker or "").split(":")[1]) == (200, str(process.pid))
    log = (await client(Role.SUPERVISOR).get(f"/dispatches/{d['id']}/deliveries")).json()
    assert log[0]["state"] == "delivered"
