"""The prank policy's rules, windows and decay, as pure functions of history, flags and ``now``.

Default policy: 24 h window, 6 h half-life, threshold 3.0, prank weight 1, ghost weight 0.25,
penalty 3 (normal priority 5 becomes 2), warning on.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.names import Classification, FlagKind, FlagSource
from services.triage.policy import (
    LOW_PRIORITY,
    NORMAL_PRIORITY,
    REASON_MANUAL,
    REASON_POLICY,
    Flag,
    FlagStatus,
    PastCall,
    PolicyError,
    PolicySettings,
    describe,
    evaluate,
    expiry,
    score,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 16:00 WIB
DEFAULT = PolicySettings()
PRANK, GHOST = Classification.PRANK.value, Classification.GHOST.value


def calls(kind: str, *hours_ago: float) -> list[PastCall]:
    return [PastCall(NOW - timedelta(hours=h), kind) for h in hours_ago]


def manual(hours_ago: float = 1, *, expires_in: float | None = 23, penalty: int = 0) -> Flag:
    return Flag(
        kind=FlagKind.PRANK.value,
        source=FlagSource.MANUAL.value,
        created_at=NOW - timedelta(hours=hours_ago),
        expires_at=None if expires_in is None else NOW + timedelta(hours=expires_in),
        reason="ancaman bom palsu",
        set_by="spv-andi",
        priority_penalty=penalty,
    )


def lift(hours_ago: float) -> Flag:
    return Flag(
        kind=FlagKind.CLEARED.value,
        source=FlagSource.MANUAL.value,
        created_at=NOW - timedelta(hours=hours_ago),
        set_by="spv-andi",
        reason="warga sudah dihubungi",
    )


# --- below and over the threshold ------------------------------------------------------------
def test_a_first_time_caller_is_normal() -> None:
    verdict = evaluate([], [], NOW, DEFAULT)
    assert not verdict.flagged
    assert (verdict.priority, verdict.warn, verdict.reasons) == (NORMAL_PRIORITY, False, ())
    assert describe(verdict, DEFAULT) == []


def test_below_the_threshold_stays_normal() -> None:
    verdict = evaluate(calls(PRANK, 0.1, 0.2), [], NOW, DEFAULT)  # score just under 2
    assert not verdict.flagged
    assert verdict.priority == NORMAL_PRIORITY
    assert verdict.score == pytest.approx(2 ** (-0.1 / 6) + 2 ** (-0.2 / 6))


def test_over_the_threshold_lowers_priority_warns_and_says_why() -> None:
    verdict = evaluate(calls(PRANK, 0.5, 1, 1.5, 2, 3), [], NOW, DEFAULT)
    assert verdict.flagged
    assert verdict.source == FlagSource.POLICY
    assert verdict.priority == NORMAL_PRIORITY - 3
    assert verdict.warn
    assert verdict.reasons == (REASON_POLICY,)
    assert (verdict.prank_calls, verdict.ghost_calls) == (5, 0)
    [text] = describe(verdict, DEFAULT)
    assert text.startswith("penelepon berulang: 5 panggilan iseng dan 0 panggilan kosong dalam 24")
    assert "prioritas antrean 2" in text
    assert "peringatan diputar" in text
    assert "WIB" in text
    [english] = describe(verdict, DEFAULT, "en")
    assert english.startswith("repeat caller: 5 prank and 0 ghost calls in 24 h")


def test_exactly_at_the_threshold_is_flagged() -> None:
    at_threshold = PolicySettings(half_life_hours=720, threshold=3)
    three_now = [PastCall(NOW, PRANK)] * 3
    assert evaluate(three_now, [], NOW, at_threshold).flagged
    assert not evaluate(three_now[:2], [], NOW, at_threshold).flagged


def test_ghost_calls_weigh_less_than_pranks() -> None:
    four_ghosts = calls(GHOST, 0.01, 0.02, 0.03, 0.04)
    assert not evaluate(four_ghosts, [], NOW, DEFAULT).flagged  # 4 x 0.25 = 1
    twelve = calls(GHOST, *[0.01 * i for i in range(1, 13)])  # just under 3 ...
    assert not evaluate(twelve, [], NOW, DEFAULT).flagged
    verdict = evaluate(twelve + calls(PRANK, 0.1), [], NOW, DEFAULT)  # ... plus one prank
    assert verdict.flagged
    assert (verdict.prank_calls, verdict.ghost_calls) == (1, 12)


def test_other_classifications_do_not_count() -> None:
    history = (
        calls(Classification.EMERGENCY.value, 0, 0, 0, 0)
        + calls(Classification.INFORMATION.value, 0, 0)
        + [PastCall(NOW, None)] * 3
    )
    verdict = evaluate(history, [], NOW, DEFAULT)
    assert verdict.score == 0
    assert not verdict.flagged


def test_the_penalty_never_takes_priority_below_one() -> None:
    harsh = DEFAULT.updated({"priority_penalty": 4})
    assert evaluate(calls(PRANK, 0, 0, 0, 0), [], NOW, harsh).priority == LOW_PRIORITY
    verdict = evaluate([], [manual(penalty=9)], NOW, DEFAULT)  # an odd stored penalty
    assert verdict.priority == LOW_PRIORITY


def test_warning_can_be_switched_off_priority_still_lowered() -> None:
    quiet = DEFAULT.updated({"warn": False})
    verdict = evaluate(calls(PRANK, 0, 0, 0, 0), [], NOW, quiet)
    assert verdict.flagged and not verdict.warn
    assert verdict.priority == 2
    assert "peringatan" not in describe(verdict, quiet)[0]


def test_a_disabled_policy_flags_nobody_by_itself() -> None:
    off = DEFAULT.updated({"enabled": False})
    assert not evaluate(calls(PRANK, 0, 0, 0, 0, 0), [], NOW, off).flagged


# --- decay and windows --------------------------------------------------------------------
def test_old_history_decays() -> None:
    # the same five pranks: flagged right after, forgotten a day later
    assert evaluate(calls(PRANK, 0, 0, 0, 0, 0), [], NOW, DEFAULT).flagged
    later = evaluate(calls(PRANK, 20, 20, 20, 20, 20), [], NOW, DEFAULT)
    assert later.score == pytest.approx(5 * 2 ** (-20 / 6))
    assert not later.flagged


def test_calls_outside_the_window_never_count() -> None:
    no_decay = PolicySettings(half_life_hours=720)
    inside = score(no_decay, calls(PRANK, 23.9, 23.9, 23.9), NOW)
    assert inside == pytest.approx(3 * 2 ** (-23.9 / 720))
    assert score(no_decay, calls(PRANK, 24, 25, 48), NOW) == 0
    assert not evaluate(calls(PRANK, 24.5, 25, 30, 40), [], NOW, no_decay).flagged


def test_future_calls_do_not_count() -> None:
    assert score(DEFAULT, calls(PRANK, -1, -2, -3, -4), NOW) == 0


def test_expiry_by_decay_is_when_the_score_halves_down_to_the_threshold() -> None:
    four_now = [PastCall(NOW, PRANK)] * 4
    expected = NOW + timedelta(hours=6 * math.log2(4 / 3))
    verdict = evaluate(four_now, [], NOW, DEFAULT)
    assert verdict.expires_at is not None
    assert abs((verdict.expires_at - expected).total_seconds()) < 1
    just_before = verdict.expires_at - timedelta(seconds=5)
    just_after = verdict.expires_at + timedelta(seconds=5)
    assert evaluate(four_now, [], just_before, DEFAULT).flagged
    assert not evaluate(four_now, [], just_after, DEFAULT).flagged


def test_expiry_by_the_window_when_calls_leave_it_first() -> None:
    slow = PolicySettings(half_life_hours=720)
    history = calls(PRANK, 23, 23, 1, 1)  # score about 4: two calls leave the window in 1 h
    verdict = evaluate(history, [], NOW, slow)
    assert verdict.flagged
    assert verdict.expires_at == NOW + timedelta(hours=1)
    assert expiry(slow, history, NOW) == NOW + timedelta(hours=1)
    assert not evaluate(history, [], NOW + timedelta(hours=1, seconds=1), slow).flagged


# --- flags set and lifted by hand ---------------------------------------------------------------
def test_a_manual_flag_overrides_a_clean_history() -> None:
    verdict = evaluate([], [manual()], NOW, DEFAULT)
    assert verdict.flagged
    assert verdict.source == FlagSource.MANUAL
    assert verdict.warn
    assert verdict.priority == NORMAL_PRIORITY - DEFAULT.priority_penalty
    assert verdict.expires_at == NOW + timedelta(hours=23)
    assert verdict.reasons == (REASON_MANUAL,)
    [text] = describe(verdict, DEFAULT)
    assert text.startswith("ditandai penelepon iseng oleh spv-andi: ancaman bom palsu")


def test_a_manual_flag_uses_its_own_penalty() -> None:
    assert evaluate([], [manual(penalty=1)], NOW, DEFAULT).priority == 4


def test_a_manual_flag_works_while_the_policy_is_disabled() -> None:
    off = DEFAULT.updated({"enabled": False})
    assert evaluate([], [manual()], NOW, off).flagged


def test_a_manual_flag_expires() -> None:
    assert not evaluate([], [manual(hours_ago=25, expires_in=-1)], NOW, DEFAULT).flagged
    assert not evaluate([], [manual(hours_ago=-1)], NOW, DEFAULT).flagged  # not started yet


def test_a_flag_without_expiry_lasts_until_lifted() -> None:
    verdict = evaluate([], [manual(hours_ago=500, expires_in=None)], NOW, DEFAULT)
    assert verdict.flagged
    assert "sampai dicabut" in describe(verdict, DEFAULT)[0]


def test_a_lift_clears_the_policy_flag() -> None:
    history = calls(PRANK, 3, 2.5, 2, 1.5, 1)
    assert evaluate(history, [], NOW, DEFAULT).flagged
    verdict = evaluate(history, [lift(0.5)], NOW, DEFAULT)
    assert not verdict.flagged
    assert verdict.score == 0
    assert verdict.cleared_at == NOW - timedelta(hours=0.5)


def test_after_a_lift_new_pranks_accumulate_again() -> None:
    history = calls(PRANK, 3, 2.5, 2, 1.5, 1) + calls(PRANK, 0.3, 0.2)
    assert not evaluate(history, [lift(0.5)], NOW, DEFAULT).flagged  # two after the lift
    history += calls(PRANK, 0.1, 0.05)
    verdict = evaluate(history, [lift(0.5)], NOW, DEFAULT)
    assert verdict.flagged
    assert verdict.prank_calls == 4  # only calls after the lift are counted


def test_a_lift_ends_an_earlier_manual_flag_but_not_a_later_one() -> None:
    assert not evaluate([], [manual(hours_ago=2), lift(1)], NOW, DEFAULT).flagged
    assert evaluate([], [lift(2), manual(hours_ago=1)], NOW, DEFAULT).flagged


# --- settings -----------------------------------------------------------------------------------
def test_settings_round_trip_and_defaults() -> None:
    assert PolicySettings.from_dict(None) == DEFAULT
    assert PolicySettings.from_dict(DEFAULT.to_dict()) == DEFAULT
    changed = DEFAULT.updated({"threshold": 5, "half_life_hours": 12})
    assert (changed.threshold, changed.half_life_hours) == (5.0, 12.0)
    assert PolicySettings.from_dict({**changed.to_dict(), "retired_key": 1}) == changed


@pytest.mark.parametrize(
    "changes",
    [
        {"threshold": 0},
        {"half_life_hours": -1},
        {"window_hours": 24 * 365},
        {"priority_penalty": 5},
        {"priority_penalty": 1.5},
        {"priority_penalty": True},
        {"threshold": "3"},
        {"threshold": float("nan")},
        {"enabled": "yes"},
        {"no_such_setting": 1},
    ],
)
def test_nonsense_settings_are_refused_with_the_field_named(changes: dict[str, object]) -> None:
    with pytest.raises(PolicyError) as caught:
        DEFAULT.updated(changes)
    assert caught.value.error_id == "invalid-triage-policy"
    assert set(caught.value.details["fields"]) == set(changes)


def test_flag_status() -> None:
    later = NOW + timedelta(hours=1)
    earlier = NOW - timedelta(hours=1)
    assert FlagStatus.of("prank", earlier, later, NOW) is FlagStatus.ACTIVE
    assert FlagStatus.of("prank", earlier, None, NOW) is FlagStatus.ACTIVE
    assert FlagStatus.of("prank", earlier, earlier, NOW) is FlagStatus.EXPIRED
    assert FlagStatus.of("prank", later, None, NOW) is FlagStatus.SCHEDULED
    assert FlagStatus.of("cleared", earlier, None, NOW) is FlagStatus.LIFT


# --- the expiry is exact, whatever the history ----------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    history=st.lists(
        st.tuples(st.floats(0, 30), st.sampled_from([PRANK, GHOST])), min_size=1, max_size=25
    ),
    half_life=st.floats(0.5, 48),
    threshold=st.floats(0.5, 5),
)
def test_a_policy_flag_holds_until_its_expiry_and_not_after(
    history: list[tuple[float, str]], half_life: float, threshold: float
) -> None:
    policy = PolicySettings(half_life_hours=half_life, threshold=threshold)
    past = [PastCall(NOW - timedelta(hours=h), kind) for h, kind in history]
    verdict = evaluate(past, [], NOW, policy)
    if not verdict.flagged:
        return
    assert verdict.expires_at is not None and verdict.expires_at >= NOW
    second = timedelta(seconds=1)
    if verdict.expires_at - second > NOW:
        assert evaluate(past, [], verdict.expires_at - second, policy).flagged
    assert not evaluate(past, [], verdict.expires_at + second, policy).flagged
    # with no new calls the score only falls
    later = [score(policy, past, NOW + timedelta(hours=h)) for h in (0, 1, 2, 6, 24)]
    assert later == sorted(later, reverse=True)
