"""The dispatch lifecycle, in one place: which state may follow which, and the ticket state the
dispatches of a ticket imply. Pure functions, no database.

    pending ─ack─> acknowledged ─> en_route ─> on_scene ─> resolved ─> closed
    (an agency may skip en_route or on_scene; it may close its part from any acknowledged state,
    with a report; the centre may cancel any dispatch that is not resolved, closed or cancelled)
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import InvalidTransition
from core.names import DispatchState as D
from core.names import TicketState as T

TRANSITIONS: dict[D, frozenset[D]] = {
    D.PENDING: frozenset({D.ACKNOWLEDGED, D.CANCELLED}),
    D.ACKNOWLEDGED: frozenset({D.EN_ROUTE, D.ON_SCENE, D.RESOLVED, D.CLOSED, D.CANCELLED}),
    D.EN_ROUTE: frozenset({D.ON_SCENE, D.RESOLVED, D.CLOSED, D.CANCELLED}),
    D.ON_SCENE: frozenset({D.RESOLVED, D.CLOSED, D.CANCELLED}),
    D.RESOLVED: frozenset({D.CLOSED}),
    D.CLOSED: frozenset(),
    D.CANCELLED: frozenset(),
}

# What an agency may post as a status update (acknowledge and close have their own endpoints).
AGENCY_UPDATE_STATES = (D.EN_ROUTE, D.ON_SCENE, D.RESOLVED)
OPEN_STATES = frozenset({D.PENDING, D.ACKNOWLEDGED, D.EN_ROUTE, D.ON_SCENE})
FINISHED_STATES = frozenset({D.RESOLVED, D.CLOSED})

# Ticket states a ticket may be in when (another) agency is dispatched.
DISPATCHABLE_TICKET_STATES = frozenset(
    {T.NEW, T.IN_PROGRESS, T.DISPATCHED, T.ACKNOWLEDGED, T.ON_SCENE}
)
# How far along the ticket is, for "the ticket follows its dispatches" (it never moves back).
_TICKET_RANK = {T.DISPATCHED: 1, T.ACKNOWLEDGED: 2, T.ON_SCENE: 3, T.RESOLVED: 4}


def allowed(current: D, new: D) -> bool:
    return new in TRANSITIONS[current]


def check(current: D | str, new: D | str) -> None:
    """Raise InvalidTransition unless ``current`` -> ``new`` is in the table."""
    cur, nxt = D(current), D(new)
    if not allowed(cur, nxt):
        raise InvalidTransition(
            f"Status penugasan tidak bisa berubah dari {cur.value} ke {nxt.value} / "
            f"a dispatch cannot go from {cur.value} to {nxt.value}",
            {
                "from": cur.value,
                "to": nxt.value,
                "allowed": sorted(s.value for s in TRANSITIONS[cur]),
            },
        )


def implied_ticket_state(dispatch_states: Iterable[D | str]) -> T | None:
    """The ticket state its dispatches imply (cancelled ones do not count; None if none left):
    all finished -> resolved; any on scene or further -> on_scene; any acknowledged -> acknowledged;
    else dispatched."""
    states = [D(s) for s in dispatch_states if D(s) is not D.CANCELLED]
    if not states:
        return None
    if all(s in FINISHED_STATES for s in states):
        return T.RESOLVED
    if any(s in (D.ON_SCENE, D.RESOLVED, D.CLOSED) for s in states):
        return T.ON_SCENE
    if any(s is not D.PENDING for s in states):
        return T.ACKNOWLEDGED
    return T.DISPATCHED


def ticket_should_move(current: T | str, implied: T | None) -> bool:
    """Whether the ticket moves forward to ``implied`` (never backward, never from another state
    than the dispatch ones, e.g. not out of closed or cancelled)."""
    if implied is None:
        return False
    cur = T(current)
    if cur in (T.NEW, T.IN_PROGRESS):
        return implied is T.DISPATCHED or implied in _TICKET_RANK
    if cur not in _TICKET_RANK:
        return False
    return _TICKET_RANK[implied] > _TICKET_RANK[cur]
