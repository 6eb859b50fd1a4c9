"""AMI events (as Asterisk 22 sends them) fill the call and its ticket, in any order, and odd
events are logged and ignored without stopping the consumer."""

from __future__ import annotations

import wave
from datetime import UTC, datetime
from pathlib import Path

from panoramisk.message import Message
from sqlalchemy.ext.asyncio import AsyncEngine

from core.names import CallEventKind, CallOutcome, DialplanVar, ticket_number
from gateway.ami.consumer import AmiConsumer
from gateway.main import Gateway
from tests.agi_client import agi_env
from tests.gateway.ami_traffic import BASE_TIME, Caller
from tests.gateway.conftest import agi_call, call_row, calls_of, new_uniqueid, ticket_row, timeline

T0 = BASE_TIME


async def feed(ami: AmiConsumer, *events: Message) -> None:
    for event in events:
        ami.on_event(None, event)
    await ami.facts.settled()


async def arrive(gateway: Gateway, caller: Caller) -> str:
    fastagi = gateway.settings.fastagi
    answer = await agi_call(fastagi.host, fastagi.port, agi_env(caller.uniqueid, caller.number))
    await gateway.store.fact_writer.settled()  # the arrival, written behind the answer
    return answer.variables[DialplanVar.TICKET]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


async def test_an_answered_call_records_queue_answer_call_taker_wait_talk_and_end(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    caller = Caller(new_uniqueid())
    await arrive(gateway, caller)

    await feed(ami, *caller.answered_call(T0))

    call = await call_row(engine, caller.uniqueid)
    assert call is not None
    assert call.outcome == CallOutcome.ANSWERED
    assert call.queue == "calltakers" and call.queue_position == 1
    assert call.queued_at == at(5) and call.answered_at == at(8) and call.ended_at == at(20.5)
    assert call.calltaker == "ct1"
    assert call.wait_seconds == 3 and call.talk_seconds == 12
    assert call.hangup_cause == 16 and call.hangup_cause_text == "Normal Clearing"
    assert call.linkedid == caller.uniqueid
    assert await timeline(engine, caller.uniqueid) == [
        CallEventKind.ARRIVED,
        CallEventKind.QUEUED,
        CallEventKind.RINGING,
        CallEventKind.ANSWERED,
        CallEventKind.COMPLETED,
        CallEventKind.ENDED,
    ]
    # the call taker's own channel is no call of its own
    assert await calls_of(engine, f"{caller.uniqueid}1") == []


async def test_a_caller_who_hangs_up_in_the_queue_is_abandoned_with_wait_and_position(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    caller = Caller(new_uniqueid())
    await arrive(gateway, caller)

    await feed(
        ami,
        caller.join(T0 + 5, position=3),
        caller.abandon(T0 + 30, position=2, original=3, hold=25),
        caller.hangup(T0 + 30),
    )

    call = await call_row(engine, caller.uniqueid)
    assert call is not None
    assert call.outcome == CallOutcome.ABANDONED
    assert call.answered_at is None and call.calltaker is None
    assert call.wait_seconds == 25
    assert call.queue_position == 2  # where the caller gave up
    assert call.ended_at == at(30)


async def test_a_hangup_before_the_arrival_is_written_keeps_one_call_and_one_ticket(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    caller = Caller(new_uniqueid())

    # the caller hangs up during the greeting; the AMI fact is written first
    await feed(ami, caller.hangup(T0 + 2, context="siaga-112-listen"))
    ticket = await arrive(gateway, caller)

    calls = await calls_of(engine, caller.uniqueid)
    assert len(calls) == 1
    call = calls[0]
    assert ticket == ticket_number(call.ticket_id or 0)
    assert call.outcome == CallOutcome.DROPPED
    assert call.ended_at == at(2)
    number = "+62" + caller.number[1:]
    assert call.arrived_at is not None and call.caller_number == number
    opened = await ticket_row(engine, call.ticket_id or 0)
    assert opened is not None and opened.caller_number == number


async def test_facts_in_any_order_never_move_times_back_or_lose_values(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    caller = Caller(new_uniqueid())
    await arrive(gateway, caller)

    await feed(
        ami,
        caller.hangup(T0 + 20),
        caller.complete(T0 + 19, hold=3, talk=10),
        caller.connect(T0 + 9, hold=3),
        caller.join(T0 + 5, position=1),
        caller.join(T0 + 6, position=4),  # a second join (re-queued) keeps the first time
        caller.hangup(T0 + 20),  # the same fact again
        Message(
            {
                "Event": "AgentComplete",
                "Uniqueid": caller.uniqueid,
                "HoldTime": "",
                "TalkTime": "not a number",
                "Timestamp": f"{T0 + 19.5}",
            }
        ),
    )

    call = await call_row(engine, caller.uniqueid)
    assert call is not None
    assert call.outcome == CallOutcome.ANSWERED  # the hangup came first, the answer still wins
    assert call.queued_at == at(5) and call.queue_position == 1
    assert call.answered_at == at(9) and call.ended_at == at(20)
    assert call.talk_seconds == 10 and call.wait_seconds == 3 and call.calltaker == "ct1"
    assert (await timeline(engine, caller.uniqueid)).count(CallEventKind.ENDED) == 1


async def test_a_talk_ended_after_the_callers_channel_went_is_kept_on_the_callers_call(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    # Seen under load: the call taker hangs up, the caller's channel goes, and AgentComplete
    # comes without any caller field; the call taker's leg still names the caller's channel.
    caller, second = Caller(new_uniqueid()), Caller(new_uniqueid(), number="081398761234")
    await arrive(gateway, caller)
    await arrive(gateway, second)

    await feed(
        ami,
        caller.join(T0 + 5),
        caller.connect(T0 + 8, hold=3),
        caller.complete_after_hangup(T0 + 20, hold=3, talk=12),
        caller.hangup(T0 + 20),
        second.join(T0 + 5),
        second.connect(T0 + 7, hold=2),
        second.complete_after_hangup(T0 + 19, hold=2, talk=12, call_taker_gone=True),
        second.hangup(T0 + 19),
    )

    call = await call_row(engine, caller.uniqueid)
    assert call is not None and call.talk_seconds == 12 and call.calltaker == "ct1"
    assert CallEventKind.COMPLETED in await timeline(engine, caller.uniqueid)
    # with both legs gone, the call the call taker was put through to
    other = await call_row(engine, second.uniqueid)
    assert other is not None and other.talk_seconds == 12
    assert other.outcome == CallOutcome.ANSWERED and other.ended_at == at(19)


async def test_a_talk_end_that_names_no_call_is_dropped_and_the_call_kept(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    caller = Caller(new_uniqueid())
    await arrive(gateway, caller)

    # the gateway did not see the answer (it came back mid-call): nothing names the call
    await feed(
        ami,
        caller.join(T0 + 5),
        caller.complete_after_hangup(T0 + 20, hold=3, talk=12, call_taker_gone=True),
        caller.hangup(T0 + 20),
    )

    call = await call_row(engine, caller.uniqueid)
    assert call is not None and call.talk_seconds is None and call.ended_at == at(20)
    assert CallEventKind.COMPLETED not in await timeline(engine, caller.uniqueid)


async def test_a_nameless_talk_end_is_not_put_on_the_call_taker_s_next_call(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    first, second = Caller(new_uniqueid()), Caller(new_uniqueid(), number="081398762345")
    await arrive(gateway, first)
    await arrive(gateway, second)

    # ct1 is put through to the second caller before the first talk's end comes, nameless
    await feed(
        ami,
        first.join(T0 + 5),
        first.connect(T0 + 8, hold=3),
        first.hangup(T0 + 20),
        second.join(T0 + 15),
        second.connect(T0 + 20.1, hold=5),
        first.complete_after_hangup(T0 + 20.2, hold=3, talk=12, call_taker_gone=True),
        second.complete(T0 + 50, hold=5, talk=30),
        second.hangup(T0 + 50),
    )

    one, two = await call_row(engine, first.uniqueid), await call_row(engine, second.uniqueid)
    assert one is not None and one.talk_seconds is None and one.ended_at == at(20)
    assert two is not None and two.talk_seconds == 30
    assert (await timeline(engine, second.uniqueid)).count(CallEventKind.COMPLETED) == 1


async def test_a_call_the_gateway_never_saw_arrive_still_gets_its_ticket_from_the_queue(
    ami: AmiConsumer, engine: AsyncEngine
) -> None:
    caller = Caller(new_uniqueid(), number="+6281311112222")

    await feed(ami, caller.join(T0 + 5), caller.abandon(T0 + 9, 1, 1, 4), caller.hangup(T0 + 9))

    call = await call_row(engine, caller.uniqueid)
    assert call is not None and call.ticket_id is not None
    assert call.caller_number == "+6281311112222" and call.outcome == CallOutcome.ABANDONED


async def test_odd_events_are_ignored_and_the_consumer_goes_on(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    stranger = new_uniqueid()
    odd = [
        Message({"Event": "QueueCallerJoin"}),  # no fields at all
        Message({"Event": "AgentConnect", "Uniqueid": "", "HoldTime": "3"}),
        Message({"Event": "AgentConnect", "Uniqueid": "../../x", "HoldTime": "3"}),
        Message({"Event": "Hangup", "Uniqueid": "1.2", "Linkedid": "1.1"}),  # someone's leg
        # a channel that never was in the 112 dialplan: no call is made up for it
        Message(
            {
                "Event": "Hangup",
                "Uniqueid": stranger,
                "Linkedid": stranger,
                "Context": "default",
                "Cause": "16",
            }
        ),
        Message({"Event": "UserEvent", "UserEvent": "SomethingElse", "Uniqueid": stranger}),
        Message(
            {
                "Event": "UserEvent",
                "UserEvent": "SiagaTriage",
                "Result": "shouted",
                "Uniqueid": stranger,
            }
        ),
        Message(
            {
                "Event": "QueueCallerJoin",
                "Uniqueid": new_uniqueid(),
                "Queue": "no-such",
                "Position": "first",
                "Timestamp": "yesterday",
            }
        ),
        Message({"Event": "Newexten", "Uniqueid": stranger}),
        Message({}),
    ]

    await feed(ami, *odd)

    assert await calls_of(engine, stranger) == []
    caller = Caller(new_uniqueid())
    await arrive(gateway, caller)
    await feed(ami, caller.join(T0 + 1))
    call = await call_row(engine, caller.uniqueid)
    assert call is not None and call.queued_at == at(1)


async def test_a_silent_caller_is_noted_as_a_probable_ghost_call_once(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine
) -> None:
    caller = Caller(new_uniqueid())
    await arrive(gateway, caller)

    await feed(ami, caller.triage(T0 + 12, "silent", priority=1))
    await feed(ami, caller.triage(T0 + 12, "silent", priority=1))  # replayed

    call = await call_row(engine, caller.uniqueid)
    assert call is not None and call.triage == "silent" and call.queue_priority == 1
    ticket = await ticket_row(engine, call.ticket_id or 0)
    assert ticket is not None and ticket.triage_note == "probable ghost call"


async def test_the_recording_length_is_read_from_the_finished_file(
    gateway: Gateway, ami: AmiConsumer, engine: AsyncEngine, tmp_path: Path
) -> None:
    caller = Caller(new_uniqueid())
    name = f"2026/11/23/{caller.uniqueid}.wav"
    fastagi = gateway.settings.fastagi
    await agi_call(fastagi.host, fastagi.port, agi_env(caller.uniqueid, recording=name))
    path = tmp_path / "recordings" / name
    path.parent.mkdir(parents=True)
    with wave.open(str(path), "wb") as wav:  # what MixMonitor leaves: 8 kHz, 16-bit, mono
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x01" * 8000 * 3)

    ami.on_event(None, caller.hangup(T0 + 30))
    await ami._tasks.copy().pop()  # the recording probe
    await ami.facts.settled()

    call = await call_row(engine, caller.uniqueid)
    assert call is not None
    assert call.recording_path == name and call.recording_seconds == 3.0
    assert CallEventKind.RECORDING in await timeline(engine, caller.uniqueid)


async def test_a_live_caller_found_after_a_reconnect_gets_its_call_and_ticket(
    ami: AmiConsumer, engine: AsyncEngine
) -> None:
    uniqueid = new_uniqueid()
    live = Message(
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/carrier-000000aa",
            "Uniqueid": uniqueid,
            "Linkedid": uniqueid,
            "Context": "siaga-112-queue",
            "CallerIDNum": "081255556666",
            "Duration": "00:01:05",
        }
    )
    call_taker_leg = Message({**live, "Uniqueid": f"{uniqueid}9", "Context": "siaga-calltakers"})
    now = datetime.now(UTC)

    facts = [ami._live_caller(m, now) for m in (live, call_taker_leg)]

    assert facts[1] is None
    assert facts[0] is not None
    await feed_facts(ami, facts[0])
    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id is not None
    assert call.source == "reconciled" and call.caller_number == "+6281255556666"
    assert call.arrived_at is not None and int((now - call.arrived_at).total_seconds()) == 65


async def feed_facts(ami: AmiConsumer, *facts: object) -> None:
    for fact in facts:
        ami.facts.put(fact)  # type: ignore[arg-type]
    await ami.facts.settled()
