"""Webhook delivery workers: in their own process (``python -m gateway.delivery``, as
``scripts/run`` starts it, so deliveries never share the call path's event loop), or
``settings.webhooks.workers`` of them inside the gateway.

A worker LISTENs for new outbox rows (and polls every ``poll_seconds`` for retries that fell due),
claims due messages in batches (``services.dispatch.delivery.claim``: SKIP LOCKED with a lease),
sends them concurrently (``gateway.webhook_http``: kept-alive connections to the address
``services.dispatch.egress`` checked, no redirects followed, the answer's body read only up to a
cap), and a writer task records outcomes in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core import eventloop
from core.db import make_sessionmaker
from core.settings import Settings, WebhookSettings, get_settings
from core.timeutil import utcnow
from gateway import webhook_http
from services.dispatch import delivery, egress
from services.dispatch import signing as webhooks
from services.dispatch.delivery import Claimed, Outcome, Result

if TYPE_CHECKING:
    from gateway.main import Gateway

log = logging.getLogger(__name__)

TARGET_TTL_SECONDS = 30.0
USER_AGENT = "Siaga112-Webhooks/1"


@dataclass(slots=True)
class _CachedTarget:
    target: egress.Target
    expires: float


class DeliveryWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: WebhookSettings,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self) & 0xFFFF:x}"
        self.allowlist = egress.Allowlist.parse(settings.allowlist)
        self.lease_seconds = settings.timeout_seconds * 2 + 30
        # a claim is one statement: it commits by itself, no BEGIN and COMMIT round trips
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.wake = asyncio.Event()
        self.results: asyncio.Queue[Outcome] = asyncio.Queue()
        self.inflight: set[asyncio.Task[None]] = set()
        self._targets: dict[str, _CachedTarget] = {}
        # certificates verified against the URL's host name; idle connections kept per target
        self._http = webhook_http.Client(ssl.create_default_context(), settings.concurrency)
        self.sent = 0  # attempts made (for figures)

    # --- the loop ------------------------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stopping))
        writer = asyncio.create_task(self._write(stopping))
        log.info("delivery worker %s started", self.name)
        try:
            await self._claim_loop(stopping)
            if self.inflight:
                await asyncio.wait(self.inflight, timeout=self.settings.timeout_seconds + 1)
        finally:
            listener.cancel()
            await self.results.join()
            writer.cancel()
            await asyncio.gather(listener, writer, return_exceptions=True)
            self._http.close()
            log.info("delivery worker %s stopped", self.name)

    async def _claim_loop(self, stopping: asyncio.Event) -> None:
        pause = 0.5
        while not stopping.is_set():
            free = self.settings.concurrency - len(self.inflight)
            # claim in batches: wait until at least half the slots are free (a claim is a
            # database round trip; one per message would cap the rate)
            if self.inflight and free < max(
                1, min(self.settings.concurrency // 2, self.settings.batch_size)
            ):
                await asyncio.wait(self.inflight, return_when=asyncio.FIRST_COMPLETED)
                continue
            want = min(free, self.settings.batch_size)
            self.wake.clear()
            try:
                async with self._autocommit.connect() as conn:  # one round trip
                    claimed = await delivery.claim(conn, want, self.lease_seconds)
                pause = 0.5
            except Exception as exc:  # database away: try again, gently
                log.warning("delivery worker %s cannot claim (%s)", self.name, type(exc).__name__)
                await _sleep_or_stop(stopping, pause)
                pause = min(pause * 2, 10.0)
                continue
            deadline = time.monotonic() + self.lease_seconds
            for c in claimed:
                c.lease_deadline = deadline
                task = asyncio.create_task(self._deliver(c))
                self.inflight.add(task)
                task.add_done_callback(self.inflight.discard)
            if len(claimed) < want:  # drained: wait for a NOTIFY, a poll tick or the stop
                waiter = asyncio.create_task(self.wake.wait())
                stopper = asyncio.create_task(stopping.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self.settings.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()

    async def _listen(self, stopping: asyncio.Event) -> None:
        """Hold a connection LISTENing on the outbox channel; reconnect when it drops."""
        while not stopping.is_set():
            try:
                async with self.engine.connect() as conn:
                    raw: Any = (await conn.get_raw_connection()).driver_connection

                    def notified(*_: object) -> None:
                        self.wake.set()

                    await raw.add_listener(delivery.OUTBOX_CHANNEL, notified)
                    self.wake.set()  # anything written while we were not listening
                    try:
                        while not stopping.is_set() and not raw.is_closed():
                            await _sleep_or_stop(stopping, 2.0)
                    finally:
                        with contextlib.suppress(Exception):
                            await raw.remove_listener(delivery.OUTBOX_CHANNEL, notified)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delivery worker %s: LISTEN lost (%s)", self.name, type(exc).__name__)
            await _sleep_or_stop(stopping, 2.0)

    async def _write(self, stopping: asyncio.Event) -> None:
        """Record outcomes in batches: one transaction for all that are ready."""
        while True:
            batch = [await self.results.get()]
            while len(batch) < 500:
                try:
                    batch.append(self.results.get_nowait())
                except asyncio.QueueEmpty:
                    break
            pause = 0.2
            while True:
                try:
                    async with self.sessionmaker() as session:
                        await delivery.record(session, batch, self.settings)
                        await session.commit()
                    break
                except Exception as exc:  # keep the outcomes until the database is back
                    log.warning(
                        "delivery worker %s cannot record %d outcomes (%s)",
                        self.name,
                        len(batch),
                        type(exc).__name__,
                    )
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 5.0)
            if any(o.result is Result.FAILED for o in batch):
                self.wake.set()  # an immediate retry may be due
            for _ in batch:
                self.results.task_done()

    # --- one attempt -----------------------------------------------------------------------------
    async def _deliver(self, c: Claimed) -> None:
        started = utcnow()
        try:
            outcome = await self._attempt(c, started)
        except Exception as exc:  # never lose an outcome: a bug here is a failed attempt
            log.exception("webhook %s: unexpected error", c.message_id)
            outcome = self._outcome(
                c, Result.FAILED, started, error=f"internal: {type(exc).__name__}"
            )
        if outcome is not None:
            self.results.put_nowait(outcome)

    def _outcome(self, c: Claimed, result: Result, started: Any, **kw: Any) -> Outcome:
        return Outcome(c, result, started, utcnow(), self.name, **kw)

    async def _attempt(self, c: Claimed, started: Any) -> Outcome | None:
        if time.monotonic() > c.lease_deadline - self.settings.timeout_seconds:
            log.info("webhook %s: lease too short to send, left for the next claim", c.message_id)
            return None
        if not c.usable or not c.url:
            return self._outcome(
                c,
                Result.UNDELIVERABLE,
                started,
                error="the agency's webhook endpoint is disabled or not set",
            )
        if not c.secrets:
            return self._outcome(c, Result.UNDELIVERABLE, started, error="no valid signing secret")
        try:
            target = await self._target(c.url)
        except egress.TargetRefused as exc:
            transient = exc.details.get("reason") == "host does not resolve"
            return self._outcome(
                c,
                Result.FAILED if transient else Result.UNDELIVERABLE,
                started,
                error=f"{exc.error_id}: {exc.details.get('reason', exc.message)}",
            )
        headers = webhooks.headers(c.secrets, c.message_id, c.body)
        headers["content-type"] = "application/json"
        headers["user-agent"] = USER_AGENT
        self.sent += 1
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):  # the whole exchange
                answer = await self._http.post(
                    target, headers, c.body, self.settings.response_body_max
                )
        except TimeoutError:
            return self._outcome(c, Result.FAILED, started, error="timeout")
        except (OSError, EOFError, webhook_http.ProtocolError) as exc:
            return self._outcome(
                c, Result.FAILED, started, error=f"{type(exc).__name__}: {exc}"[:500]
            )
        status = answer.status
        if 200 <= status < 300:
            result = Result.DELIVERED
        elif status == 410:
            result = Result.GONE
        else:
            result = Result.FAILED
        error = None
        if 300 <= status < 400:
            error = f"HTTP {status}: redirect not followed ({answer.location})"
        elif result is not Result.DELIVERED:
            error = f"HTTP {status}"
        body = answer.body.decode("utf-8", "replace")
        return self._outcome(
            c, result, started, status_code=status, error=error, response_body=body
        )

    async def _target(self, url: str) -> egress.Target:
        cached = self._targets.get(url)
        now = time.monotonic()
        if cached is not None and cached.expires > now:
            return cached.target
        target = await egress.check(url, self.allowlist)
        self._targets[url] = _CachedTarget(target, now + TARGET_TTL_SECONDS)
        return target


async def _sleep_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


async def run(gateway: Gateway) -> None:
    """The gateway's background worker: ``settings.webhooks.workers`` delivery workers (0: none
    here, delivery runs in its own process, ``python -m gateway.delivery``)."""
    settings = gateway.settings.webhooks
    if settings.workers == 0:
        log.info("no delivery workers in the gateway: python -m gateway.delivery delivers")
    workers = [
        DeliveryWorker(gateway.engine, gateway.sessionmaker, settings)
        for _ in range(settings.workers)
    ]
    await asyncio.gather(*(w.run(gateway.stopping) for w in workers))


async def serve(settings: Settings) -> None:
    """Delivery alone, until SIGTERM/SIGINT (one worker: a process runs one event loop)."""
    if not settings.database_url:
        raise SystemExit("SIAGA_DATABASE_URL is not set")
    # a claim or a record that meets a dead connection fails and is tried again, so no ping
    # round trip on every checkout; the LISTEN, a claim and a record hold one connection each
    engine = create_async_engine(
        settings.database_url,
        pool_size=4,
        max_overflow=4,
        pool_pre_ping=False,
        connect_args={"timeout": 2, "command_timeout": 30, "server_settings": {"timezone": "UTC"}},
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await DeliveryWorker(engine, make_sessionmaker(engine), settings.webhooks).run(stopping)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    eventloop.run(serve(get_settings()))
