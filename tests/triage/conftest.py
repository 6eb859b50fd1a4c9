"""Fixtures for the triage area: the real API app and one user per role (shared with tests/api),
a clean policy cache around every test, and helpers that write calls and tickets."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from models import Call, Ticket
from services.triage import decide as triage
from tests.api.conftest import api_app, api_settings, client, people  # noqa: F401


@pytest.fixture(autouse=True)
def fresh_policy_cache() -> Iterator[None]:
    """The policy is cached per process; each test reads it from its own transaction."""
    triage.forget_cached_settings()
    yield
    triage.forget_cached_settings()


# A policy set explicitly by the tests that compute scores by hand: 24 h window, 6 h half-life,
# threshold 3, prank weight 1, ghost weight 0.25, penalty 3, warning on.
STRICT_POLICY = {
    "enabled": True,
    "window_hours": 24,
    "half_life_hours": 6,
    "threshold": 3,
    "prank_weight": 1,
    "ghost_weight": 0.25,
    "priority_penalty": 3,
    "warn": True,
}


def new_number() -> str:
    """A caller number no other test uses (E.164, Indonesian mobile)."""
    return "+62812" + str(secrets.randbelow(10**8)).zfill(8)


async def add_call(
    session: AsyncSession,
    number: str | None,
    arrived_at: datetime,
    *,
    classification: str | None = None,
    classified_by: str | None = None,
    outcome: str = "answered",
    answer_after: float | None = None,
    wait_seconds: float | None = None,
    ended_after: float | None = 60.0,
    triage_result: str | None = None,
    direction: str = "inbound",
    ticket: Ticket | None = None,
) -> tuple[Ticket, Call]:
    """One call and (unless given) its ticket, as the gateway would have written them."""
    if ticket is None:
        ticket = Ticket(
            state="new",
            priority=5,
            caller_number=number,
            classification=classification,
            classified_by=classified_by or ("ct" if classification else None),
            created_at=arrived_at,
            updated_at=arrived_at,
        )
        session.add(ticket)
        await session.flush()
    values: dict[str, Any] = {
        "uniqueid": f"t-{secrets.token_hex(8)}",
        "ticket_id": ticket.id,
        "direction": direction,
        "caller_number": number,
        "outcome": outcome,
        "arrived_at": arrived_at,
        "triage": triage_result,
        "wait_seconds": wait_seconds,
    }
    if answer_after is not None:
        values["answered_at"] = arrived_at + timedelta(seconds=answer_after)
    if ended_after is not None:
        values["ended_at"] = arrived_at + timedelta(seconds=ended_after)
    call = Call(**values)
    session.add(call)
    await session.flush()
    return ticket, call
