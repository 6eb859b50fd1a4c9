"""The ticket lifecycle's transition table: every pair of states, allowed or refused."""

from __future__ import annotations

import itertools

import pytest

from core.errors import InvalidTransition
from core.names import TicketState as S
from services.tickets.lifecycle import ALLOWED, can_transition, check

EXPECTED_ALLOWED = {
    (S.NEW, S.IN_PROGRESS),
    (S.NEW, S.DISPATCHED),
    (S.NEW, S.CLOSED),
    (S.NEW, S.CANCELLED),
    (S.IN_PROGRESS, S.DISPATCHED),
    (S.IN_PROGRESS, S.CLOSED),
    (S.IN_PROGRESS, S.CANCELLED),
    (S.DISPATCHED, S.ACKNOWLEDGED),
    (S.DISPATCHED, S.ON_SCENE),
    (S.DISPATCHED, S.RESOLVED),
    (S.DISPATCHED, S.CANCELLED),
    (S.ACKNOWLEDGED, S.ON_SCENE),
    (S.ACKNOWLEDGED, S.RESOLVED),
    (S.ACKNOWLEDGED, S.CANCELLED),
    (S.ON_SCENE, S.RESOLVED),
    (S.RESOLVED, S.CLOSED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_pair_of_states_is_allowed_or_refused_as_the_procedure_says(
    current: S, target: S
) -> None:
    expected = (current, target) in EXPECTED_ALLOWED
    assert can_transition(current, target) is expected
    if expected:
        check(current, target)
    else:
        with pytest.raises(InvalidTransition) as info:
            check(current, target)
        assert info.value.details["from"] == current.value
        assert info.value.details["to"] == target.value


def test_closed_and_cancelled_tickets_never_move_again() -> None:
    assert ALLOWED[S.CLOSED] == frozenset()
    assert ALLOWED[S.CANCELLED] == frozenset()


def test_every_state_is_in_the_table() -> None:
    assert set(ALLOWED) == set(S)
