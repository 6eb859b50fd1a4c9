"""The AMI consumer: follows every 112 call through Asterisk's events and records what it learns.

Events are parsed into call facts (``gateway.ami.facts``) as they arrive and go behind the call
(``gateway.call_path.fact_writer``): written in arrival order in batches through the fact store
(bounded; spooled when the database cannot take them). After a caller's channel hangs up, the
recording's length is read from disk once MixMonitor has finished it. The connection is kept up with
growing pauses between attempts; on every login the live channels and queues are read back, logged,
and live 112 callers the gateway has not seen get their ticket."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from typing import Any

from panoramisk import Manager

from core import phone
from core.names import CallEventKind
from core.settings import Settings
from core.timeutil import utcnow
from gateway.ami import facts as ami_events
from gateway.call_path.durable import DurableWrites
from gateway.call_path.recordings import finished_recording
from services.calls.facts import CallFact

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^(\d+):(\d{2}):(\d{2})$")
# Reading the live channels and queues after a login: each answer within this bound, asked again
# (1 s, then 2 s later) when a loaded Asterisk is slow to answer.
LIVE_STATE_SECONDS = 10.0
LIVE_STATE_ATTEMPTS = 3


class _Manager(Manager):  # type: ignore[misc]
    reconnect_timeout: float
    """panoramisk's Manager with a pause that grows after each failed attempt, and no reconnect
    once the gateway is stopping."""

    max_pause = 10.0
    stopping = False

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        if self.stopping:
            return None
        return super().connect(*args, **kwargs)

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        failed = f.cancelled() or f.exception() is not None
        if failed:
            log.warning(
                "AMI %s:%s unreachable, trying again in %.0f s",
                self.config["host"],
                self.config["port"],
                self.reconnect_timeout,
            )
        super().connection_made(f)
        if failed:
            self.reconnect_timeout = min(self.reconnect_timeout * 2, self.max_pause)

    def login(self, future: asyncio.Future[Any]) -> bool:
        authenticated = bool(super().login(future))
        if authenticated:
            self.reconnect_timeout = 1.0
        else:
            log.error("AMI login refused for user %s", self.config["username"])
        return authenticated

    def connection_lost(self, exc: Any) -> None:
        if self.stopping:
            return
        log.error("AMI connection lost; reconnecting in %.0f s", self.reconnect_timeout)
        super().connection_lost(exc)


class AmiConsumer:
    def __init__(
        self, settings: Settings, store: DurableWrites, recordings: dict[str, str]
    ) -> None:
        self.settings = settings
        self.store = store
        self.recordings = recordings  # uniqueid -> recording name, from the AGI route
        self.facts = store.fact_writer
        self.manager: _Manager | None = None
        self.logged_in = False
        # call takers' pause state per queue member ("ct1" -> paused?), as Asterisk reports it
        self.paused: dict[str, bool] = {}
        # call taker account -> the caller's unique id of the call they are talking on (None:
        # not known for sure), until its talk's end comes
        self.talking: dict[str, str | None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Connect (inside the running loop) and start the writer."""
        ami = self.settings.ami
        secret = ami.secret.get_secret_value() if ami.secret else ""
        manager = _Manager(
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=secret,
            loop=asyncio.get_running_loop(),
            ping_delay=10,
            ping_interval=10,
            reconnect_timeout=1,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
            log=logging.getLogger("gateway.ami.consumer.panoramisk"),
        )
        manager.max_pause = ami.reconnect_max_seconds
        for name in ami_events.PARSERS:
            manager.register_event(name, self.on_event)
        for name in ami_events.MEMBER_EVENTS:
            manager.register_event(name, self.on_member)
        self.manager = manager
        manager.connect()

    # --- events ---------------------------------------------------------------------------
    def on_event(self, manager: Any, event: Any) -> None:
        """panoramisk callback: parse and queue; never raises."""
        fact = ami_events.fact_from_event(event, utcnow(), self.talking)
        if fact is None:
            return
        self.facts.put(fact)
        calltaker = fact.data.get("calltaker")
        if fact.kind == CallEventKind.ANSWERED and calltaker:
            # One queue call at a time: a second answer before the first talk's end came leaves
            # no single call a nameless end could belong to.
            last = self.talking.get(calltaker, fact.uniqueid)
            self.talking[calltaker] = fact.uniqueid if last == fact.uniqueid else None
        elif fact.kind == CallEventKind.COMPLETED and calltaker:
            self.talking.pop(calltaker, None)
        if fact.kind == CallEventKind.ENDED:
            known = self.recordings.pop(fact.uniqueid, None)
            if fact.may_create or known:
                self._spawn(self._recording(fact, known))

    def on_member(self, manager: Any, event: Any) -> None:
        """A queue member's pause state changed (or was reported): never raises."""
        member = ami_events.member_pause(event)
        if member is not None:
            self.paused[member[0]] = member[1]

    @property
    def paused_count(self) -> int:
        return sum(1 for paused in self.paused.values() if paused)

    async def _recording(self, ended: CallFact, known: str | None) -> None:
        found = await finished_recording(self.settings, ended.uniqueid, known)
        if found is None:
            return
        name, seconds = found
        self.facts.put(
            CallFact(
                CallEventKind.RECORDING.value,
                ended.uniqueid,
                utcnow(),
                {"recording_path": name, "recording_seconds": seconds},
                may_create=ended.may_create,
            )
        )
        log.info("recording uniqueid=%s %s %.1f s", ended.uniqueid, name, seconds)

    # --- (re)connection -------------------------------------------------------------------
    def _on_login(self, manager: Any) -> None:
        self.logged_in = True
        log.info("AMI logged in to %s:%s", self.settings.ami.host, self.settings.ami.port)
        self._spawn(self.sync_live_state())

    def _on_disconnect(self, manager: Any, exc: Any) -> None:
        self.logged_in = False

    async def sync_live_state(self) -> None:
        """Read the live channels and queues back after a (re)connect; live 112 callers the
        gateway missed get their call and ticket now."""
        assert self.manager is not None
        for attempt in range(1, LIVE_STATE_ATTEMPTS + 1):
            try:
                channels = await asyncio.wait_for(
                    self.manager.send_action({"Action": "CoreShowChannels"}, as_list=True),
                    LIVE_STATE_SECONDS,
                )
                queues = await asyncio.wait_for(
                    self.manager.send_action({"Action": "QueueStatus"}, as_list=True),
                    LIVE_STATE_SECONDS,
                )
                break
            except Exception as exc:
                if not self.logged_in or attempt == LIVE_STATE_ATTEMPTS:
                    # the next login reads it again; reconciliation covers the calls meanwhile
                    log.warning("AMI live state not read: %s", type(exc).__name__)
                    return
                log.info("AMI live state not read (%s), asking again", type(exc).__name__)
                await asyncio.sleep(attempt)
        now = utcnow()
        live = 0
        for message in channels if isinstance(channels, list) else []:
            if message.get("Event") != "CoreShowChannel":
                continue
            live += 1
            log.info(
                "live channel %s uniqueid=%s context=%s",
                message.get("Channel"),
                message.get("Uniqueid"),
                message.get("Context"),
            )
            fact = self._live_caller(message, now)
            if fact is not None:
                self.facts.put(fact)
        for message in queues if isinstance(queues, list) else []:
            self.on_member(None, message)
        entries = (
            sum(1 for m in queues if m.get("Event") == "QueueEntry")
            if isinstance(queues, list)
            else 0
        )
        log.info("AMI live state: %d channels, %d callers waiting in queues", live, entries)

    @staticmethod
    def _live_caller(message: Any, now: Any) -> CallFact | None:
        uniqueid, linkedid = message.get("Uniqueid"), message.get("Linkedid")
        context = str(message.get("Context") or "")
        if not uniqueid or (linkedid and linkedid != uniqueid):
            return None
        if not context.startswith(ami_events.CALLER_CONTEXT_PREFIX):
            return None
        number = ami_events.caller_number(message)
        data: dict[str, Any] = {
            "channel": message.get("Channel") or None,
            "caller_number_raw": number,
            "caller_number": phone.normalise(number),
            "source": "reconciled",
        }
        match = _DURATION.match(str(message.get("Duration") or ""))
        if match:
            h, m, s = (int(x) for x in match.groups())
            data["arrived_at"] = (now - timedelta(hours=h, minutes=m, seconds=s)).isoformat()
        fact = ami_events._fact(CallEventKind.RECONCILED, message, now, data)
        return fact

    # --- stop -----------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop listening, then write what is queued (to the database or the spool)."""
        if self.manager is not None:
            self.manager.stopping = True
            self.manager.close()
        if self._tasks:  # recordings being finished: a short grace, then what is left is dropped
            await asyncio.wait(list(self._tasks), timeout=min(grace_seconds, 3.0))
        for task in list(self._tasks):
            task.cancel()
        await self.facts.stop(grace_seconds)
