"""The dispatch lifecycle's transition table, every pair, and how a ticket follows its
dispatches."""

from __future__ import annotations

import itertools

import pytest

from core.errors import InvalidTransition
from core.names import DispatchState as D
from core.names import TicketState as T
from services.dispatch import rules as dispatch_rules

ALLOWED = {
    (D.PENDING, D.ACKNOWLEDGED),
    (D.PENDING, D.CANCELLED),
    (D.ACKNOWLEDGED, D.EN_ROUTE),
    (D.ACKNOWLEDGED, D.ON_SCENE),
    (D.ACKNOWLEDGED, D.RESOLVED),
    (D.ACKNOWLEDGED, D.CLOSED),
    (D.ACKNOWLEDGED, D.CANCELLED),
    (D.EN_ROUTE, D.ON_SCENE),
    (D.EN_ROUTE, D.RESOLVED),
    (D.EN_ROUTE, D.CLOSED),
    (D.EN_ROUTE, D.CANCELLED),
    (D.ON_SCENE, D.RESOLVED),
    (D.ON_SCENE, D.CLOSED),
    (D.ON_SCENE, D.CANCELLED),
    (D.RESOLVED, D.CLOSED),
}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(D, D)))
def test_every_dispatch_transition_pair(current: D, new: D) -> None:
    expected = (current, new) in ALLOWED
    assert dispatch_rules.allowed(current, new) is expected
    if expected:
        dispatch_rules.check(current, new)
    else:
        with pytest.raises(InvalidTransition) as info:
            dispatch_rules.check(current.value, new.value)
        assert info.value.error_id == "invalid-transition"
        assert info.value.details["from"] == current.value
        assert info.value.details["to"] == new.value


def test_the_table_covers_every_state() -> None:
    assert set(dispatch_rules.TRANSITIONS) == set(D)


def test_an_agency_must_acknowledge_before_anything_else() -> None:
    for new in (D.EN_ROUTE, D.ON_SCENE, D.RESOLVED, D.CLOSED):
        assert not dispatch_rules.allowed(D.PENDING, new)


def test_closed_and_cancelled_are_final() -> None:
    assert not dispatch_rules.TRANSITIONS[D.CLOSED]
    assert not dispatch_rules.TRANSITIONS[D.CANCELLED]


@pytest.mark.parametrize(
    ("states", "implied"),
    [
        ([], None),
        ([D.CANCELLED], None),
        ([D.PENDING], T.DISPATCHED),
        ([D.PENDING, D.PENDING], T.DISPATCHED),
        ([D.PENDING, D.ACKNOWLEDGED], T.ACKNOWLEDGED),
        ([D.EN_ROUTE, D.PENDING], T.ACKNOWLEDGED),
        ([D.ON_SCENE, D.PENDING], T.ON_SCENE),
        ([D.RESOLVED, D.PENDING], T.ON_SCENE),
        ([D.RESOLVED, D.CLOSED], T.RESOLVED),
        ([D.RESOLVED, D.CANCELLED], T.RESOLVED),
        ([D.CLOSED], T.RESOLVED),
        ([D.CLOSED, D.EN_ROUTE], T.ON_SCENE),
    ],
)
def test_the_ticket_state_its_dispatches_imply(states: list[D], implied: T | None) -> None:
    assert dispatch_rules.implied_ticket_state(states) is implied


@pytest.mark.parametrize(
    ("current", "implied", "moves"),
    [
        (T.IN_PROGRESS, T.DISPATCHED, True),
        (T.NEW, T.DISPATCHED, True),
        (T.DISPATCHED, T.DISPATCHED, False),
        (T.DISPATCHED, T.ACKNOWLEDGED, True),
        (T.ACKNOWLEDGED, T.ON_SCENE, True),
        (T.ON_SCENE, T.ACKNOWLEDGED, False),  # never backwards
        (T.ON_SCENE, T.RESOLVED, True),
        (T.RESOLVED, T.ON_SCENE, False),
        (T.CLOSED, T.RESOLVED, False),
        (T.CANCELLED, T.DISPATCHED, False),
        (T.DISPATCHED, None, False),
    ],
)
def test_a_ticket_only_moves_forward(current: T, implied: T | None, moves: bool) -> None:
    assert dispatch_rules.ticket_should_move(current, implied) is moves
