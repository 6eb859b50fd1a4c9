"""AMI events with the fields Asterisk 22 sends (app_queue, channel and user events), for one
caller on the carrier trunk and the call taker ``ct1``."""

from __future__ import annotations

import secrets

from panoramisk.message import Message

BASE_TIME = 1795420000.0


def _channel(
    prefix: str, channel: str, uniqueid: str, linkedid: str, context: str, number: str, name: str
) -> dict[str, str]:
    return {
        f"{prefix}Channel": channel,
        f"{prefix}ChannelState": "6",
        f"{prefix}ChannelStateDesc": "Up",
        f"{prefix}CallerIDNum": number,
        f"{prefix}CallerIDName": name,
        f"{prefix}ConnectedLineNum": "<unknown>",
        f"{prefix}ConnectedLineName": "<unknown>",
        f"{prefix}Language": "id",
        f"{prefix}AccountCode": "",
        f"{prefix}Context": context,
        f"{prefix}Exten": "s",
        f"{prefix}Priority": "4",
        f"{prefix}Uniqueid": uniqueid,
        f"{prefix}Linkedid": linkedid,
    }


class Caller:
    """The events of one 112 call, numbered in time order."""

    def __init__(self, uniqueid: str, number: str | None = None, ticket: str = "T000001"):
        self.uniqueid = uniqueid
        # a number no other test uses: a caller's history (ghost calls) must not leak across tests
        self.number = number or f"0813{secrets.randbelow(10**8):08d}"
        self.ticket = ticket
        self.seq = int(uniqueid.rsplit(".", 1)[1]) % 100000
        self.clock = BASE_TIME

    def _event(self, name: str, at: float, **fields: str) -> Message:
        headers = {"Event": name, "Privilege": "agent,all", "Timestamp": f"{at:.6f}"}
        headers.update(
            _channel(
                "",
                f"PJSIP/carrier-{self.seq:08x}",
                self.uniqueid,
                self.uniqueid,
                "siaga-112-queue",
                self.number,
                f"112 {self.ticket}",
            )
        )
        headers.update(fields)
        return Message(headers)

    def _agent(self) -> dict[str, str]:
        agent_id = f"{self.uniqueid}1"
        return _channel(
            "Dest",
            f"PJSIP/ct1-{self.seq + 1:08x}",
            agent_id,
            self.uniqueid,
            "siaga-calltakers",
            "ct1",
            "ct1",
        )

    def join(self, at: float, position: int = 1) -> Message:
        return self._event(
            "QueueCallerJoin", at, Queue="calltakers", Position=str(position), Count=str(position)
        )

    def called(self, at: float) -> Message:
        return self._event(
            "AgentCalled",
            at,
            Queue="calltakers",
            Interface="PJSIP/ct1",
            MemberName="ct1",
            **self._agent(),
        )

    def connect(self, at: float, hold: int, ring: int = 1) -> Message:
        return self._event(
            "AgentConnect",
            at,
            Queue="calltakers",
            Interface="PJSIP/ct1",
            MemberName="ct1",
            HoldTime=str(hold),
            RingTime=str(ring),
            **self._agent(),
        )

    def complete(self, at: float, hold: int, talk: int) -> Message:
        return self._event(
            "AgentComplete",
            at,
            Queue="calltakers",
            Interface="PJSIP/ct1",
            MemberName="ct1",
            HoldTime=str(hold),
            TalkTime=str(talk),
            Reason="agent",
            **self._agent(),
        )

    def complete_after_hangup(
        self, at: float, hold: int, talk: int, call_taker_gone: bool = False
    ) -> Message:
        """``AgentComplete`` as Asterisk raises it once the caller's channel has gone: no caller
        fields (and none of the call taker's either when that leg has gone too)."""
        headers = {
            "Event": "AgentComplete",
            "Privilege": "agent,all",
            "Timestamp": f"{at:.6f}",
            **({} if call_taker_gone else self._agent()),
            "Queue": "calltakers",
            "Interface": "PJSIP/ct1",
            "MemberName": "ct1",
            "HoldTime": str(hold),
            "TalkTime": str(talk),
            "Reason": "agent",
        }
        return Message(headers)

    def abandon(self, at: float, position: int, original: int, hold: int) -> Message:
        return self._event(
            "QueueCallerAbandon",
            at,
            Queue="calltakers",
            Position=str(position),
            OriginalPosition=str(original),
            HoldTime=str(hold),
        )

    def triage(self, at: float, result: str, priority: int = 5) -> Message:
        return self._event(
            "UserEvent",
            at,
            UserEvent="SiagaTriage",
            Result=result,
            Ticket=self.ticket,
            QueuePriority=str(priority),
            Context="siaga-112-listen",
        )

    def hangup(self, at: float, context: str = "siaga-112-queue") -> Message:
        return self._event(
            "Hangup", at, Cause="16", **{"Cause-txt": "Normal Clearing"}, Context=context
        )

    def agent_hangup(self, at: float) -> Message:
        fields = {k.removeprefix("Dest"): v for k, v in self._agent().items()}
        return Message(
            {
                "Event": "Hangup",
                "Timestamp": f"{at:.6f}",
                **fields,
                "Cause": "16",
                "Cause-txt": "Normal Clearing",
            }
        )

    def answered_call(self, start: float) -> list[Message]:
        """A call that queues 5 s after ``start``, rings ct1, is answered after 3 s in the queue,
        talks 12 s and is hung up (the call taker's leg first)."""
        return [
            self.join(start + 5),
            self.called(start + 6),
            self.connect(start + 8, hold=3),
            self.complete(start + 20, hold=3, talk=12),
            self.agent_hangup(start + 20),
            self.hangup(start + 20.5),
        ]
