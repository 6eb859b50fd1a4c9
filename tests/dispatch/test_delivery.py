"""Webhook delivery to real HTTP receivers on loopback, by real workers on real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.names import Role
from models import Agency, AuditEntry, DeliveryAttempt, OutboxMessage
from services.dispatch import signing as webhooks
from tests.dispatch.conftest import (
    Client,
    MakeAgency,
    MakeTicket,
    fast_webhooks,
    running_workers,
    secret_of,
)
from tests.dispatch.receiver import Answer, Receiver

Sessions = Callable[[], AsyncSession]


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


async def dispatch(client: Client, ticket_id: int, *codes: str) -> list[dict[str, Any]]:
    r = await client(Role.CALLTAKER).post(
        f"/tickets/{ticket_id}/dispatches", json={"agency_codes": list(codes)}
    )
    assert r.status_code == 201, r.text
    return list(r.json())


async def messages_of(sessions: Sessions, agency: Agency) -> list[OutboxMessage]:
    async with sessions() as s:
        rows = await s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.agency_id == agency.id)
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def attempts_of(sessions: Sessions, message: OutboxMessage) -> list[DeliveryAttempt]:
    async with sessions() as s:
        rows = await s.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.outbox_id == message.id)
            .order_by(DeliveryAttempt.attempt)
        )
        return list(rows)


def plain_hmac_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check written out plainly, independent of services.dispatch.signing."""
    key = base64.b64decode(secret[len("whsec_") :])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(part, "v1," + expected)
        for part in headers["webhook-signature"].split(" ")
    )


async def test_a_dispatched_ticket_reaches_the_receiver_and_its_signature_verifies(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    receiver: Receiver,
    engine: AsyncEngine,
    sessions: Sessions,
) -> None:
    agency = await make_agency(webhook_url=receiver.url)
    ticket = await make_ticket()
    [d] = await dispatch(client, ticket.id, agency.code)
    async with running_workers(engine, fast_webhooks()):
        await receiver.wait_for(lambda: len(receiver.processed) == 1)
    [got] = receiver.requests
    secret = secret_of(agency)
    assert webhooks.verify(secret, got.headers, got.body) == got.webhook_id
    assert plain_hmac_ok(secret, got.headers, got.body)
    assert got.path == "/hooks/siaga112"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    event = json.loads(got.body)
    assert event["type"] == "dispatch.created"
    assert event["data"]["ticket"]["number"] == ticket.number
    assert event["data"]["dispatch"]["id"] == d["id"]
    [message] = await messages_of(sessions, agency)
    assert message.message_id == got.webhook_id
    assert message.state == "delivered" and message.delivered_at is not None
    log = (await client(Role.SUPERVISOR).get(f"/dispatches/{d['id']}/deliveries")).json()
    assert log[0]["state"] == "delivered"
    assert [(a["attempt"], a["status_code"]) for a in log[0]["attempts_log"]] == [(1, 200)]
    assert log[0]["attempts_log"][0]["worker"] == "test-worker-0"
    listed = (await client(Role.CALLTAKER).get(f"/tickets/{ticket.id}/dispatches")).json()
    assert listed[0]["delivery_state"] == "delivered"
    # call takers may not read the delivery log
    assert (
        await client(Role.CALLTAKER).get(f"/dispatches/{d['id']}/deliveries")
    ).status_code == 403


async def test_a_receiver_down_for_a_while_gets_every_message_once_it_is_up(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    sessions: Sessions,
) -> None:
    receiver = Receiver()  # not started: connections are refused
    agency = await make_agency(webhook_url=receiver.url)
    for _ in range(5):
        await dispatch(client, (await make_ticket()).id, agency.code)
    expected = {m.message_id for m in await messages_of(sessions, agency)}
    assert len(expected) == 5

    async def each_tried_twice() -> bool:
        return all(m.attempts >= 2 for m in await messages_of(sessions, agency))

    async with running_workers(engine, fast_webhooks(retry_delays_seconds=[0.0, 0.3])):
        await wait_until(each_tried_twice)
        await receiver.start()
        try:
            await receiver.wait_for(lambda: receiver.processed >= expected)
        finally:
            await receiver.stop()
    assert receiver.processed == expected
    assert receiver.duplicates == 0
    for message in await messages_of(sessions, agency):
        assert message.state == "delivered"
        attempts = await attempts_of(sessions, message)
        assert [a.attempt for a in attempts] == list(range(1, len(attempts) + 1))
        assert len(attempts) >= 3
        assert all(a.status_code is None and a.error for a in attempts[:-1])
        assert attempts[-1].status_code == 200 and attempts[-1].error is None


async def test_two_workers_never_send_one_message_twice_at_the_same_time(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    sessions: Sessions,
) -> None:
    receiver = Receiver(delay=0.05)  # slow enough for overlaps to show if claims overlapped
    await receiver.start()
    agency = await make_agency(webhook_url=receiver.url)
    for _ in range(30):
        await dispatch(client, (await make_ticket()).id, agency.code)
    expected = {m.message_id for m in await messages_of(sessions, agency)}
    try:
        settings = fast_webhooks(batch_size=5, concurrency=10)
        async with running_workers(engine, settings, count=2):
            await receiver.wait_for(lambda: receiver.processed >= expected, timeout=30)
    finally:
        await receiver.stop()
    assert receiver.processed == expected
    assert max(receiver.max_inflight[i] for i in expected) == 1
    assert sum(1 for r in receiver.requests if r.webhook_id in expected) == len(expected)
    async with sessions() as s:
        workers = set(
            await s.scalars(
                select(DeliveryAttempt.worker)
                .join(OutboxMessage, OutboxMessage.id == DeliveryAttempt.outbox_id)
                .where(OutboxMessage.agency_id == agency.id)
            )
        )
    assert workers <= {"test-worker-0", "test-worker-1"}


async def test_410_disables_the_endpoint_and_stops(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    sessions: Sessions,
) -> None:
    receiver = Receiver(respond=lambda _: Answer(410, b"gone"))
    await receiver.start()
    agency = await make_agency(webhook_url=receiver.url)
    await dispatch(client, (await make_ticket()).id, agency.code)
    try:
        async with running_workers(engine, fast_webhooks()):
            await wait_until(lambda: _state_is(sessions, agency, "dead"))
    finally:
        await receiver.stop()
    assert len(receiver.requests) == 1  # no retry after 410
    [message] = await messages_of(sessions, agency)
    assert "410" in (message.last_error or "")
    async with sessions() as s:
        refreshed = await s.get_one(Agency, agency.id)
        assert refreshed.webhook_disabled_at is not None
        audit = (
            await s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.entity == "agency", AuditEntry.entity_id == agency.code
                )
            )
        ).all()
    assert "agency.webhook_disabled" in audit
    # new dispatches queue nothing for a disabled endpoint; redelivery waits for re-enabling
    await dispatch(client, (await make_ticket()).id, agency.code)
    assert len(await messages_of(sessions, agency)) == 1
    r = await client(Role.SUPERVISOR).post(f"/deliveries/{message.message_id}/redeliver")
    assert r.status_code == 409 and r.json()["error_id"] == "webhook-endpoint-disabled"


async def _state_is(sessions: Sessions, agency: Agency, state: str) -> bool:
    messages = await messages_of(sessions, agency)
    return bool(messages) and all(m.state == state for m in messages)


async def test_dead_letter_after_max_age_then_redelivery_works(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    sessions: Sessions,
) -> None:
    answer = {"status": 503}
    receiver = Receiver(respond=lambda _: Answer(answer["status"], b"x" * 10_000))
    await receiver.start()
    agency = await make_agency(webhook_url=receiver.url)
    [d] = await dispatch(client, (await make_ticket()).id, agency.code)
    settings = fast_webhooks(
        max_age_hours=1.5 / 3600, retry_delays_seconds=[0.0, 0.3], response_body_max=100
    )
    supervisor = client(Role.SUPERVISOR, username="spv1")
    try:
        async with running_workers(engine, settings):
            await wait_until(lambda: _state_is(sessions, agency, "dead"))
            [message] = await messages_of(sessions, agency)
            assert message.attempts >= 2 and message.dead_at is not None
            assert "gave up" in (message.last_error or "")
            attempts = await attempts_of(sessions, message)
            assert all(a.status_code == 503 for a in attempts)
            assert all(len(a.response_body or "") == 100 for a in attempts)  # capped

            page = (await supervisor.get("/deliveries/dead", params={"limit": 200})).json()
            assert message.message_id in [m["message_id"] for m in page["items"]]

            answer["status"] = 200
            r = await supervisor.post(f"/deliveries/{message.message_id}/redeliver")
            assert r.status_code == 200 and r.json()["state"] == "pending"
            await receiver.wait_for(lambda: message.message_id in receiver.processed)
            await wait_until(lambda: _state_is(sessions, agency, "delivered"))
    finally:
        await receiver.stop()
    again = await supervisor.post(f"/deliveries/{message.message_id}/redeliver")
    assert again.status_code == 409  # only dead messages
    log = (await supervisor.get(f"/dispatches/{d['id']}/deliveries")).json()[0]
    assert log["attempts_log"][-1]["status_code"] == 200
    assert len(log["attempts_log"]) == message.attempts + 1
    async with sessions() as s:
        audit = (
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.entity == "outbox", AuditEntry.entity_id == message.message_id
                )
            )
        ).all()
    assert [(a.action, a.actor) for a in audit] == [("delivery.redelivered", "spv1")]
    assert (await client(Role.CALLTAKER).get("/deliveries/dead")).status_code == 403
    bad = await supervisor.post("/deliveries/not-an-id/redeliver")
    assert bad.status_code == 422


async def test_redirects_are_not_followed(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    sessions: Sessions,
    receiver: Receiver,
) -> None:
    redirector = Receiver(respond=lambda _: Answer(302, b"", {"location": receiver.url}))
    await redirector.start()
    agency = await make_agency(webhook_url=redirector.url)
    await dispatch(client, (await make_ticket()).id, agency.code)
    try:
        async with running_workers(engine, fast_webhooks(retry_delays_seconds=[0.0, 5.0])):
            await redirector.wait_for(lambda: len(redirector.requests) >= 2)
    finally:
        await redirector.stop()
    assert receiver.requests == []
    [message] = await messages_of(sessions, agency)
    attempts = await attempts_of(sessions, message)
    assert attempts[0].status_code == 302
    assert "redirect not followed" in (attempts[0].error or "")


async def test_a_target_turned_hostile_is_refused_at_send_time(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    sessions: Sessions,
) -> None:
    agency = await make_agency(webhook_url="http://127.0.0.1:9/hook")
    await dispatch(client, (await make_ticket()).id, agency.code)
    async with sessions() as s:  # changed behind the API's back (e.g. by hand in the database)
        await s.execute(
            update(Agency)
            .where(Agency.id == agency.id)
            .values(webhook_url="http://169.254.169.254/latest/meta-data/")
        )
        await s.commit()
    async with running_workers(engine, fast_webhooks()):
        await wait_until(lambda: _state_is(sessions, agency, "dead"))
    [message] = await messages_of(sessions, agency)
    [attempt] = await attempts_of(sessions, message)
    assert attempt.status_code is None
    assert (attempt.error or "").startswith("webhook-target-refused")


async def test_during_a_rotation_messages_carry_both_signatures(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    receiver: Receiver,
) -> None:
    agency = await make_agency(webhook_url=receiver.url)
    old = secret_of(agency)
    r = await client(Role.ADMIN).post(f"/agencies/{agency.code}/secret")
    new = r.json()["secret"]
    await dispatch(client, (await make_ticket()).id, agency.code)
    async with running_workers(engine, fast_webhooks()):
        await receiver.wait_for(lambda: len(receiver.processed) == 1)
    [got] = receiver.requests
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        webhooks.verify(secret, got.headers, got.body)
        assert plain_hmac_ok(secret, got.headers, got.body)


async def test_a_new_message_wakes_an_idle_worker_at_once(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    receiver: Receiver,
) -> None:
    """The outbox trigger NOTIFYs the workers: a message does not wait for the next poll."""
    agency = await make_agency(webhook_url=receiver.url)
    ticket = await make_ticket()
    async with running_workers(engine, fast_webhooks(poll_seconds=60)):
        await asyncio.sleep(0.5)  # the worker has drained what there was and sleeps
        await dispatch(client, ticket.id, agency.code)
        await receiver.wait_for(lambda: len(receiver.processed) == 1, timeout=15)


async def test_a_receiver_slower_than_the_timeout_is_retried(
    client: Client,
    make_agency: MakeAgency,
    make_ticket: MakeTicket,
    engine: AsyncEngine,
    sessions: Sessions,
) -> None:
    receiver = Receiver(delay=1.0)
    await receiver.start()
    agency = await make_agency(webhook_url=receiver.url)
    await dispatch(client, (await make_ticket()).id, agency.code)

    async def retried() -> bool:
        [message] = await messages_of(sessions, agency)
        return len(await attempts_of(sessions, message)) >= 2

    try:
        settings = fast_webhooks(timeout_seconds=0.3, retry_delays_seconds=[0.0, 0.2])
        async with running_workers(engine, settings):
            await wait_until(retried)
    finally:
        await receiver.stop()
    [message] = await messages_of(sessions, agency)
    attempts = await attempts_of(sessions, message)
    assert attempts[0].error == "timeout" and attempts[0].status_code is None
