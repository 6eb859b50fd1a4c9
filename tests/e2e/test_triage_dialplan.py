"""Issue 5's part in the dialplan, on a real Asterisk with SIPp: Asterisk's own talk detection
tells a silent caller from one who speaks or presses a key, and a low priority puts a flagged
caller behind a first-time caller who called later, without ever refusing them."""

from __future__ import annotations

import asyncio

import pytest

from core.settings import Settings
from ops.asterisk import AsteriskInstance
from ops.sipp import KEY_1, SPEECH, SippRunner
from tests.e2e.agi_stub import AgiStub
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.conftest import unique_number

pytestmark = pytest.mark.e2e


def _uniqueid(stub: AgiStub, number: str) -> str:
    return next(s["agi_uniqueid"] for s in stub.sessions if s.get("agi_callerid") == number)


async def test_silent_speaking_and_key_pressing_callers_are_told_apart(
    agi_stub: AgiStub, sipp: SippRunner, ami: AmiWatch
) -> None:
    agi_stub.answers = {"SIAGA_TICKET": "T000900", "SIAGA_PRIORITY": "5"}
    silent, speaking, pressing = unique_number(), unique_number(), unique_number()

    results = await asyncio.gather(
        sipp.call([silent], audio=None),
        sipp.call([speaking], audio=SPEECH),
        sipp.call([pressing], audio=KEY_1),
    )

    assert all(r.ok for r in results), [r.stderr for r in results]
    outcome = {}
    for number in (silent, speaking, pressing):
        event = await ami.wait_for(
            "UserEvent", UserEvent="SiagaTriage", Uniqueid=_uniqueid(agi_stub, number)
        )
        outcome[number] = (event["Result"], event["QueuePriority"])
    assert outcome[silent] == ("silent", "1")  # still queued, at low priority
    assert outcome[speaking] == ("spoke", "5")
    assert outcome[pressing] == ("dtmf", "5")
    # every one of them reached a call taker
    for number in (silent, speaking, pressing):
        await ami.wait_for("AgentConnect", Uniqueid=_uniqueid(agi_stub, number))


async def test_flagged_caller_waits_behind_a_later_first_time_caller_and_is_still_answered(
    agi_stub: AgiStub,
    sipp: SippRunner,
    ami: AmiWatch,
    asterisk: AsteriskInstance,
    e2e_settings: Settings,
    calltakers_paused: None,
) -> None:
    flagged, first_time = unique_number(), unique_number()

    def answer(env: dict[str, str]) -> dict[str, str]:
        if env.get("agi_callerid") == flagged:
            return {"SIAGA_TICKET": "T000901", "SIAGA_PRIORITY": "1", "SIAGA_TRIAGE": "warn"}
        return {"SIAGA_TICKET": "T000902", "SIAGA_PRIORITY": "5", "SIAGA_TRIAGE": "normal"}

    agi_stub.answer_for = answer
    flagged_call = asyncio.create_task(sipp.call([flagged]))
    await ami.wait_for("QueueCallerJoin", timeout=40, CallerIDNum=flagged)
    first_time_call = asyncio.create_task(sipp.call([first_time]))
    joined = await ami.wait_for("QueueCallerJoin", timeout=40, CallerIDNum=first_time)

    # the later first-time caller goes ahead of the flagged one
    assert joined["Position"] == "1"
    asterisk.cli(
        f"queue unpause member PJSIP/{e2e_settings.asterisk.calltakers[0].account} "
        f"queue {e2e_settings.asterisk.queue}"
    )
    results = await asyncio.gather(flagged_call, first_time_call)

    assert all(r.ok for r in results), [r.stderr for r in results]
    connects = [
        e["CallerIDNum"]
        for e in ami.named("AgentConnect")
        if e.get("CallerIDNum") in (flagged, first_time)
    ]
    assert connects == [first_time, flagged]  # the flagged caller is answered too, after
