"""The callback worker: places the callbacks call takers asked for (``services.callbacks.service``).

Every second (and whenever the API's NOTIFY arrives) it claims new requests while the AMI link is
up and sends Asterisk an asynchronous Originate: the trunk calls the citizen, and the
``siaga-callback`` context records the call and rings the call taker. The channel's unique id is
the request's own, so the AMI consumer's facts (hangup) land on the request's row; this worker adds
the answer (or the failure) from Asterisk's OriginateResponse.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from core.names import CallEventKind, DialplanVar
from core.timeutil import utcnow
from gateway.ami.facts import ORIGINATE_RESPONSE, event_time
from services.callbacks import service as callbacks
from services.calls.facts import CallFact

if TYPE_CHECKING:
    from gateway.main import Gateway

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
RING_SECONDS = 45


class CallbackWorker:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.placed: dict[str, callbacks.Callback] = {}
        self._registered = False
        self._tasks: set[asyncio.Task[None]] = set()

    def _register(self) -> None:
        ami = self.gateway.ami
        if ami is None or ami.manager is None or self._registered:
            return
        ami.manager.register_event(ORIGINATE_RESPONSE, self.on_originate_response)
        self._registered = True

    def on_originate_response(self, manager: Any, event: Any) -> None:
        callback = self.placed.pop(str(event.get("Uniqueid") or ""), None)
        if callback is not None:
            self._settle(callback, event)

    def _settle(self, callback: callbacks.Callback, event: Any) -> None:
        """The citizen answered (the call taker's phone rings next), or did not."""
        uniqueid = callback.uniqueid
        at = event_time(event, utcnow())
        if str(event.get("Response")) == "Success":
            fact = CallFact(
                CallEventKind.ANSWERED.value,
                uniqueid,
                at,
                {"calltaker": callback.calltaker},
                may_create=False,
            )
            log.info("callback uniqueid=%s answered by the citizen", uniqueid)
        else:
            fact = CallFact(
                CallEventKind.ENDED.value,
                uniqueid,
                at,
                {"hangup_cause_text": f"callback not answered (reason {event.get('Reason')})"},
                may_create=False,
            )
            log.warning("callback uniqueid=%s not answered: %s", uniqueid, event.get("Reason"))
        self.gateway.store.fact_writer.put(fact)  # written in order with the AMI's own facts

    async def place_pending(self) -> int:
        ami = self.gateway.ami
        if ami is None or not ami.logged_in or ami.manager is None:
            return 0  # nothing claimed while Asterisk cannot be asked
        self._register()
        async with self.gateway.sessionmaker() as session, session.begin():
            pending = await callbacks.claim_pending(session)
        for callback in pending:  # each waits for its answer on its own
            task = asyncio.create_task(self._originate(callback))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(pending)

    async def _originate(self, callback: callbacks.Callback) -> None:
        ami = self.gateway.ami
        assert ami is not None and ami.manager is not None
        variables = ",".join(
            (
                f"{DialplanVar.CALLTAKER}={callback.calltaker}",
                f"{DialplanVar.RECORDING}={callback.recording_path}",
                f"{DialplanVar.CALLBACK_TICKET}={callbacks.ticket_number(callback.ticket_id)}",
            )
        )
        self.placed[callback.uniqueid] = callback
        action = {
            "Action": "Originate",
            "Channel": f"PJSIP/{callback.number}@carrier",
            "Context": callbacks.CONTEXT,
            "Exten": "s",
            "Priority": "1",
            "ChannelId": callback.uniqueid,
            "CallerID": "112 <112>",
            "Timeout": str(RING_SECONDS * 1000),
            "Async": "true",
            "Variable": variables,
        }
        log.info(
            "callback uniqueid=%s ticket=%s dialling %s for %s",
            callback.uniqueid,
            callback.ticket_id,
            callback.number,
            callback.calltaker,
        )
        try:
            # panoramisk answers an async Originate with the action's response followed by
            # Asterisk's OriginateResponse (once the citizen answered, or did not)
            reply = await asyncio.wait_for(ami.manager.send_action(action), RING_SECONDS + 15)
        except Exception as exc:
            reply = {"Response": "Error", "Message": type(exc).__name__}
        messages = reply if isinstance(reply, list) else [reply]
        if callback.uniqueid not in self.placed:
            return  # settled by its OriginateResponse event already
        for message in messages:
            if message.get("Event") == ORIGINATE_RESPONSE:
                self.placed.pop(callback.uniqueid, None)
                self._settle(callback, message)
                return
        self.placed.pop(callback.uniqueid, None)
        log.error("callback uniqueid=%s refused by Asterisk: %s", callback.uniqueid, messages[:1])
        self.gateway.store.fact_writer.put(
            CallFact(
                CallEventKind.ENDED.value,
                callback.uniqueid,
                utcnow(),
                {"hangup_cause_text": "callback refused by Asterisk"},
                may_create=False,
            )
        )


async def run(gateway: Gateway) -> None:
    worker = CallbackWorker(gateway)
    while not gateway.stopping.is_set():
        try:
            await worker.place_pending()
        except Exception as exc:
            log.warning("callbacks not placed this round (%s: %.200s)", type(exc).__name__, exc)
        try:
            await asyncio.wait_for(gateway.stopping.wait(), POLL_SECONDS)
        except TimeoutError:
            pass
