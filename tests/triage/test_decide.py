"""``services.triage.decide.decide`` against the real database: what the dialplan gets for a caller.

The policy is set explicitly in each test (24 h window, 6 h half-life, threshold 3, prank weight 1,
ghost weight 0.25, penalty 3, warning on), so the numbers below are computed by hand:
five prank calls 1..5 h ago score 2^(-1/6) + ... + 2^(-5/6) = 3.58 >= 3.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.names import Classification, FlagKind, FlagSource, TriageCode
from models import AuditEntry, Call, CallerFlag, Ticket
from services.calls.apply import apply_fact
from services.calls.facts import CallFact, FactResult
from services.triage import decide as triage
from services.triage import history as caller_history
from services.triage.decide import NORMAL_PRIORITY
from tests.triage.conftest import STRICT_POLICY, add_call, new_number

NOW = datetime(2041, 5, 10, 5, 0, tzinfo=UTC)  # 12:00 WIB
POLICY = STRICT_POLICY
PRANK, GHOST = Classification.PRANK.value, Classification.GHOST.value


@pytest.fixture
async def policy(session: AsyncSession) -> None:
    await triage.save_settings(session, POLICY, actor="test")


async def pranks(session: AsyncSession, number: str, *hours_ago: float, kind: str = PRANK) -> None:
    for h in hours_ago:
        await add_call(session, number, NOW - timedelta(hours=h), classification=kind)


@pytest.mark.usefixtures("policy")
async def test_first_time_caller_is_normal(session: AsyncSession) -> None:
    decision = await triage.decide(session, new_number(), NOW)
    assert decision.priority == NORMAL_PRIORITY
    assert decision.code == TriageCode.NORMAL
    assert not decision.warn and not decision.flagged and decision.reasons == []
    assert decision.silent_check  # everyone goes through the silent-call step


@pytest.mark.parametrize("raw", [None, "", "anonymous", "Unknown", "restricted"])
@pytest.mark.usefixtures("policy")
async def test_unknown_or_withheld_number_is_normal(session: AsyncSession, raw: str | None) -> None:
    decision = await triage.decide(session, raw, NOW)
    assert decision == triage.TriageDecision()


@pytest.mark.usefixtures("policy")
async def test_below_threshold_stays_normal(session: AsyncSession) -> None:
    number = new_number()
    await pranks(session, number, 1, 2, 3)  # 0.89 + 0.79 + 0.71 = 2.39 < 3
    await pranks(session, number, 0.5, 1, kind=GHOST)  # ghost calls weigh a quarter
    decision = await triage.decide(session, number, NOW)
    assert not decision.flagged
    assert decision.priority == NORMAL_PRIORITY


@pytest.mark.usefixtures("policy")
async def test_repeat_prank_caller_is_lowered_and_warned(session: AsyncSession) -> None:
    number = new_number()
    await pranks(session, number, 1, 2, 3, 4, 5)
    # an emergency call of the same number counts for nothing
    await add_call(session, number, NOW - timedelta(hours=1), classification="emergency")
    # the carrier's local form of the same number is the same caller
    decision = await triage.decide(session, "0" + number.removeprefix("+62"), NOW)
    assert decision.flagged and decision.source == FlagSource.POLICY
    assert decision.priority == NORMAL_PRIORITY - 3
    assert decision.warn and decision.code == TriageCode.WARN
    assert decision.score == pytest.approx(sum(2 ** (-h / 6) for h in range(1, 6)), abs=0.01)
    assert decision.expires_at is not None and decision.expires_at > NOW
    note = triage.format_reasons(decision)
    assert note is not None and "5 panggilan iseng" in note


@pytest.mark.usefixtures("policy")
async def test_old_history_outside_window_or_decayed_counts_less(session: AsyncSession) -> None:
    old, recent = new_number(), new_number()
    await pranks(session, old, 25, 26, 27, 28, 29, 30)  # outside the 24 h window
    await pranks(session, recent, 13, 14, 15, 16, 17)  # inside, but decayed to 0.9 in total
    assert not (await triage.decide(session, old, NOW)).flagged
    assert not (await triage.decide(session, recent, NOW)).flagged
    # the same five calls an hour ago flag the caller
    assert (await triage.decide(session, recent, NOW - timedelta(hours=12))).flagged


@pytest.mark.usefixtures("policy")
async def test_later_calls_never_count_for_an_earlier_decision(session: AsyncSession) -> None:
    number = new_number()
    await pranks(session, number, -1, -2, -3, -4, -5)  # in the future of NOW
    assert not (await triage.decide(session, number, NOW)).flagged


@pytest.mark.usefixtures("policy")
async def test_manual_flag_overrides_policy_and_expires(session: AsyncSession) -> None:
    number = new_number()
    flag = await caller_history.set_flag(
        session,
        number,
        actor="spv",
        reason="ancaman bom palsu",
        hours=2,
        priority_penalty=4,
        now=NOW - timedelta(hours=1),
    )
    assert flag["status"] == "active"
    decision = await triage.decide(session, number, NOW)
    assert decision.flagged and decision.source == FlagSource.MANUAL
    assert decision.priority == 1 and decision.warn
    assert "ancaman bom palsu" in (triage.format_reasons(decision) or "")
    assert not (await triage.decide(session, number, NOW + timedelta(hours=1, seconds=1))).flagged
    audits = await session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.entity == "caller_flag", AuditEntry.entity_id == number)
    )
    assert audits == 1


@pytest.mark.usefixtures("policy")
async def test_lift_clears_policy_flag_until_new_pranks_accumulate(session: AsyncSession) -> None:
    number = new_number()
    await pranks(session, number, 1, 2, 3, 4, 5)
    assert (await triage.decide(session, number, NOW)).flagged
    await caller_history.lift(session, number, actor="spv", reason="salah paham", now=NOW)
    lifted = await triage.decide(session, number, NOW + timedelta(minutes=1))
    assert not lifted.flagged and lifted.priority == NORMAL_PRIORITY
    # four new pranks after the lift: 4 x ~0.97 >= 3 again
    later = NOW + timedelta(minutes=30)
    for minutes in (5, 10, 15, 20):
        await add_call(session, number, NOW + timedelta(minutes=minutes), classification=PRANK)
    again = await triage.decide(session, number, later)
    assert again.flagged and again.source == FlagSource.POLICY
    kinds = list(
        await session.scalars(select(CallerFlag.kind).where(CallerFlag.caller_number == number))
    )
    assert kinds == [FlagKind.CLEARED.value]


@pytest.mark.usefixtures("policy")
async def test_lift_also_ends_a_manual_flag(session: AsyncSession) -> None:
    number = new_number()
    await caller_history.set_flag(
        session, number, actor="spv", reason="iseng", now=NOW - timedelta(hours=1)
    )
    await caller_history.lift(session, number, actor="spv", now=NOW - timedelta(minutes=1))
    assert not (await triage.decide(session, number, NOW)).flagged


async def test_disabled_policy_still_honours_manual_flags(session: AsyncSession) -> None:
    await triage.save_settings(session, {**POLICY, "enabled": False}, actor="test")
    number, other = new_number(), new_number()
    await pranks(session, number, 1, 2, 3, 4, 5)
    assert not (await triage.decide(session, number, NOW)).flagged
    await caller_history.set_flag(session, other, actor="spv", reason="iseng", now=NOW)
    assert (await triage.decide(session, other, NOW + timedelta(seconds=1))).flagged


@pytest.mark.usefixtures("policy")
async def test_history_summary_for_the_ticket_view(session: AsyncSession) -> None:
    number = new_number()
    await pranks(session, number, 1, 2, 3, 4, 5)
    await add_call(session, number, NOW - timedelta(hours=6), classification="emergency")
    await add_call(session, number, NOW - timedelta(hours=7))  # not classified yet
    await add_call(session, number, NOW - timedelta(hours=30), classification=PRANK)  # too old
    summary = await caller_history.summary(session, number, NOW)
    assert summary["total"] == 7
    assert summary["by_classification"] == {"prank": 5, "emergency": 1, "unclassified": 1}
    assert summary["text"] == "7 panggilan dalam 24 jam, 5 ditandai iseng, 0 kosong"
    assert summary["text_en"] == "7 calls in 24 h, 5 marked prank, 0 ghost"
    assert summary["policy"]["flagged"] is True
    assert [c["arrived_at"] for c in summary["calls"]] == sorted(
        (c["arrived_at"] for c in summary["calls"]), reverse=True
    )


@pytest.mark.usefixtures("policy")
async def test_arrival_of_a_flagged_caller_opens_a_lowered_ticket_with_reasons(
    session: AsyncSession,
) -> None:
    """Through the gateway's own fact path: the ticket and the call carry the decision."""
    flagged, first_time = new_number(), new_number()
    await pranks(session, flagged, 1, 2, 3, 4, 5)
    results: dict[str, FactResult] = {}
    for number in (flagged, first_time):
        fact = CallFact("arrived", f"d-{number}", NOW, {"caller_number": number})
        results[number] = await apply_fact(session, fact)
    low, normal = results[flagged], results[first_time]
    assert low.decision is not None and low.decision.warn and low.decision.priority == 2
    assert normal.decision is not None and normal.decision.priority == NORMAL_PRIORITY
    ticket = await session.get(Ticket, low.ticket_id)
    assert ticket is not None and ticket.priority == 2
    assert ticket.triage_note is not None and "5 panggilan iseng" in ticket.triage_note
    call = await session.scalar(select(Call).where(Call.uniqueid == f"d-{flagged}"))
    assert call is not None and call.queue_priority == 2


@pytest.mark.usefixtures("policy")
async def test_supervisors_see_the_numbers_the_policy_flags(session: AsyncSession) -> None:
    flagged, below, lifted = new_number(), new_number(), new_number()
    await pranks(session, flagged, 1, 2, 3, 4, 5)
    await pranks(session, below, 1, 2)
    await pranks(session, lifted, 1, 2, 3, 4, 5)
    await caller_history.lift(session, lifted, actor="spv", now=NOW - timedelta(minutes=1))
    rows = await caller_history.policy_flagged(session, now=NOW, limit=1000)
    mine = {r["caller_number"]: r for r in rows if r["caller_number"] in (flagged, below, lifted)}
    assert list(mine) == [flagged]
    decision = await triage.decide(session, flagged, NOW)
    assert mine[flagged]["score"] == pytest.approx(decision.score, abs=0.001)
    assert mine[flagged]["prank_calls"] == 5
