"""AMI events (Asterisk 22 field names) turned into call facts. Pure functions, no I/O.

Queue events name the caller's channel in ``Uniqueid`` (the call taker's leg is ``DestUniqueid``),
so every fact is keyed by the caller channel's unique id. Events with missing or odd fields give
``None`` (logged), never an exception.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from core import phone
from core.names import TRIAGE_USER_EVENT, CallEventKind, TalkResult
from services.calls.facts import CallFact

log = logging.getLogger(__name__)

Event = Mapping[str, str]
_UNIQUEID = re.compile(r"^[A-Za-z0-9_-]{0,32}?-?\d{1,12}\.\d{1,12}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
# Dialplan contexts a 112 caller's channel runs in (asterisk_conf/extensions.conf).
CALLER_CONTEXT_PREFIX = "siaga-112"


def _get(event: Event, name: str) -> str | None:
    value = event.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# The database's integer columns hold these (a queue position, a hangup cause).
INT_RANGE = range(-(2**31), 2**31)


def _int(event: Event, name: str) -> int | None:
    text = _get(event, name)
    if text is None:
        return None
    try:
        value = int(float(text))
    except (ValueError, OverflowError):
        log.warning("AMI %s: field %s is not a number: %.40r", event.get("Event"), name, text)
        return None
    if value not in INT_RANGE:
        log.warning("AMI %s: field %s out of range: %.40r", event.get("Event"), name, text)
        return None
    return value


def _seconds(event: Event, name: str) -> float | None:
    value = _int(event, name)
    return float(value) if value is not None and value >= 0 else None


def event_time(event: Event, now: datetime) -> datetime:
    """The event's own time (``timestampevents = yes`` adds ``Timestamp``), else ``now``."""
    stamp = _get(event, "Timestamp")
    if stamp:
        try:
            return datetime.fromtimestamp(float(stamp), UTC)
        except (ValueError, OverflowError, OSError):
            pass
    return now


def _uniqueid(event: Event, fallback: str | None = None) -> str | None:
    """The caller channel's unique id (``fallback`` when the event has none)."""
    uniqueid = _get(event, "Uniqueid") or fallback
    if uniqueid is None or not _UNIQUEID.match(uniqueid):
        log.warning("AMI %s without a usable Uniqueid, ignored", event.get("Event"))
        return None
    return uniqueid


def caller_number(event: Event) -> str | None:
    number = _get(event, "CallerIDNum")
    return None if number is None or number.lower() in {"<unknown>", "unknown"} else number


def calltaker_account(event: Event) -> str | None:
    """``ct1`` from ``Interface: PJSIP/ct1`` (or from MemberName / DestChannel)."""
    for name in ("Interface", "DestChannel", "MemberName"):
        value = _get(event, name)
        if not value:
            continue
        account = value.split("/", 1)[1] if "/" in value else value
        if name == "DestChannel":
            account = account.rsplit("-", 1)[0]
        if _ACCOUNT.match(account):
            return account
    return None


def _fact(
    kind: CallEventKind,
    event: Event,
    now: datetime,
    data: dict[str, Any],
    fallback: str | None = None,
) -> CallFact | None:
    uniqueid = _uniqueid(event, fallback)
    if uniqueid is None:
        return None
    data = {k: v for k, v in data.items() if v is not None}
    linkedid = _get(event, "Linkedid")
    if linkedid and _UNIQUEID.match(linkedid):
        data.setdefault("linkedid", linkedid)
    return CallFact(kind.value, uniqueid, event_time(event, now), data)


def queue_caller_join(event: Event, now: datetime) -> CallFact | None:
    return _fact(
        CallEventKind.QUEUED,
        event,
        now,
        {
            "queue": _get(event, "Queue"),
            "queue_position": _int(event, "Position"),
            "channel": _get(event, "Channel"),
            "caller_number_raw": caller_number(event),
            "caller_number": phone.normalise(caller_number(event)),
        },
    )


def agent_called(event: Event, now: datetime) -> CallFact | None:
    return _fact(
        CallEventKind.RINGING,
        event,
        now,
        {"queue": _get(event, "Queue"), "ringing": calltaker_account(event)},
    )


def agent_connect(event: Event, now: datetime) -> CallFact | None:
    return _fact(
        CallEventKind.ANSWERED,
        event,
        now,
        {
            "queue": _get(event, "Queue"),
            "calltaker": calltaker_account(event),
            "wait_seconds": _seconds(event, "HoldTime"),
            "ring_seconds": _seconds(event, "RingTime"),
        },
    )


def agent_complete(
    event: Event, now: datetime, talking: Mapping[str, str | None] | None = None
) -> CallFact | None:
    """The end of a call taker's talk. When the call taker hangs up, the caller's channel may be
    gone by the time Asterisk raises it (a few calls in a hundred under load), and Asterisk then
    leaves out every caller field. The call is then known by the call taker leg's
    ``DestLinkedid`` (that leg was dialled for the caller, whose channel began the call and named
    its link) or, with that leg gone too, by ``talking``: the call the call taker is talking on
    (a call taker takes one queue call at a time)."""
    calltaker = calltaker_account(event)
    fallback = _get(event, "DestLinkedid") or (talking or {}).get(calltaker or "")
    return _fact(
        CallEventKind.COMPLETED,
        event,
        now,
        {
            "calltaker": calltaker,
            "wait_seconds": _seconds(event, "HoldTime"),
            "talk_seconds": _seconds(event, "TalkTime"),
            "reason": _get(event, "Reason"),
        },
        fallback,
    )


def queue_caller_abandon(event: Event, now: datetime) -> CallFact | None:
    return _fact(
        CallEventKind.ABANDONED,
        event,
        now,
        {
            "queue": _get(event, "Queue"),
            "queue_position": _int(event, "Position"),
            "original_position": _int(event, "OriginalPosition"),
            "wait_seconds": _seconds(event, "HoldTime"),
        },
    )


def hangup(event: Event, now: datetime) -> CallFact | None:
    """The end of a channel. Only a caller's channel (its own Linkedid) counts; a channel still in
    the 112 dialplan may open a call the gateway has not seen yet, any other only updates one."""
    uniqueid, linkedid = _get(event, "Uniqueid"), _get(event, "Linkedid")
    if linkedid is not None and uniqueid != linkedid:
        return None  # a call taker's leg, or another channel of the same call
    fact = _fact(
        CallEventKind.ENDED,
        event,
        now,
        {
            "hangup_cause": _int(event, "Cause"),
            "hangup_cause_text": _get(event, "Cause-txt"),
            "channel": _get(event, "Channel"),
        },
    )
    if fact is None:
        return None
    context = _get(event, "Context") or ""
    if not context.startswith(CALLER_CONTEXT_PREFIX):
        return CallFact(fact.kind, fact.uniqueid, fact.at, fact.data, may_create=False)
    return fact


def user_event(event: Event, now: datetime) -> CallFact | None:
    if _get(event, "UserEvent") != TRIAGE_USER_EVENT:
        return None
    result = (_get(event, "Result") or "").lower()
    if result not in {r.value for r in TalkResult}:
        log.warning("AMI %s with unknown Result %.20r ignored", TRIAGE_USER_EVENT, result)
        return None
    priority = _int(event, "QueuePriority")
    return _fact(
        CallEventKind.TRIAGE,
        event,
        now,
        {"triage": result, "queue_priority": priority, "ticket": _get(event, "Ticket")},
    )


PARSERS: dict[str, Callable[[Event, datetime], CallFact | None]] = {
    "QueueCallerJoin": queue_caller_join,
    "AgentCalled": agent_called,
    "AgentConnect": agent_connect,
    "AgentComplete": agent_complete,
    "QueueCallerAbandon": queue_caller_abandon,
    "Hangup": hangup,
    "UserEvent": user_event,
}


def fact_from_event(
    event: Event, now: datetime, talking: Mapping[str, str | None] | None = None
) -> CallFact | None:
    """The call fact an AMI event carries, or None (not a call fact, or unusable). ``talking``:
    call taker account -> the caller's unique id of the call they are talking on."""
    parser = PARSERS.get(str(event.get("Event") or ""))
    if parser is None:
        return None
    try:
        if parser is agent_complete:
            return agent_complete(event, now, talking)
        return parser(event, now)
    except Exception:
        log.exception("AMI %s could not be read, ignored", event.get("Event"))
        return None


# Events that report a queue member's pause state (QueueMember answers QueueStatus). Every pause
# and unpause raises QueueMemberPause, however it is made; QueueMemberStatus (three for each call
# a call taker takes: ringing, in use, free) would only repeat what the gateway knows.
MEMBER_EVENTS = ("QueueMemberPause", "QueueMember", "QueueMemberAdded")


# Asterisk's answer to an asynchronous Originate (the callback worker, gateway.callbacks).
ORIGINATE_RESPONSE = "OriginateResponse"
# System events panoramisk acts on by itself: FullyBooted sends the actions left waiting by a lost
# connection again, Shutdown drops the connection at once.
CLIENT_EVENTS = ("FullyBooted", "Shutdown")
# Every event the gateway's AMI session uses: manager.conf filters the session to these, so Asterisk
# does not write (and the gateway's event loop does not read) the many other events of each call.
# Answers to the gateway's own actions (CoreShowChannel, QueueStatus's QueueMember, the *Complete
# list ends) are written to the asking session directly and pass no filter.
SUBSCRIBED = (*PARSERS, *MEMBER_EVENTS, ORIGINATE_RESPONSE, *CLIENT_EVENTS)


def member_pause(event: Any) -> tuple[str, bool] | None:
    """``("ct1", True)`` for a paused member, from any of MEMBER_EVENTS; None if unusable."""
    if event.get("Event") not in MEMBER_EVENTS:
        return None
    paused = str(event.get("Paused", "")).strip()
    if paused not in ("0", "1"):
        return None
    interface = str(event.get("Interface") or event.get("StateInterface") or "")
    account = interface.split("/", 1)[-1].strip() or str(event.get("MemberName") or "").strip()
    if not account:
        return None
    return account, paused == "1"
